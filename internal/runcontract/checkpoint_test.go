package runcontract

import (
	"testing"

	. "github.com/onsi/gomega"
)

// TestDecodeCheckpoint: present data is a checkpoint only when it is one; blank, null, {}
// and JSON without "job" are refused, never read as "start from the beginning".
func TestDecodeCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		wantErr    string
		wantJob    string
	}{
		{name: "empty", data: "", wantErr: "present but empty"},
		{name: "whitespace", data: " \n\t", wantErr: "present but empty"},
		{name: "null", data: "null", wantErr: `no "job" field`},
		{name: "empty object", data: "{}", wantErr: `no "job" field`},
		{name: "no job", data: `{"cursor": {"updatedAt": "2026-06-30T23:55:00Z", "id": "1"}}`, wantErr: `no "job" field`},
		{name: "array", data: "[]", wantErr: "does not hold a valid checkpoint"},
		{name: "corrupt", data: `{"job": "j", "cursor": {`, wantErr: "does not hold a valid checkpoint"},
		{name: "another job", data: `{"job": "other"}`, wantErr: `belongs to job "other"`},
		{name: "valid", data: `{"job": "j"}`, wantJob: "j"},
		{name: "valid, job written by a local reset without a job", data: `{"job": ""}`, wantJob: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cp, err := DecodeCheckpoint("j", []byte(tc.data))
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cp.Job).To(Equal(tc.wantJob))
		})
	}
}
