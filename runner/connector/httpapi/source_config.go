package httpapi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Time formats of SourceConfig.TimeFormat.
const (
	TimeRFC3339     = "RFC3339"
	TimeUnixSeconds = "UnixSeconds"
	TimeUnixMillis  = "UnixMillis"
)

// Pagination types of Pagination.Type.
const (
	PageNextToken  = "NextToken"
	PageLinkHeader = "LinkHeader"
	PageCursorID   = "CursorID"
	PageOffset     = "Offset"
)

// Pagination says how a list endpoint gives its next page; see Source.
type Pagination struct {
	// Type is PageNextToken, PageLinkHeader, PageCursorID or PageOffset.
	Type string
	// TokenPath is the dot-separated JSON path of the next-page token in the body; required
	// for NextToken.
	TokenPath string
	// TokenParam is the query parameter carrying the next-page token (NextToken) or the
	// offset (Offset); required for both.
	TokenParam string
}

// SourceConfig says which list endpoint a Source reads and how to read it; see Source for
// how each field is used. Credentials, headers and retries belong to the client.
type SourceConfig struct {
	// URL of the list endpoint: absolute http or https.
	URL string
	// IDsURL, optional, is a template holding "{after}" that lists the record ids after it
	// in byte order (see Source.FieldValues).
	IDsURL string
	// UpdatedSinceParam is the query parameter carrying the cursor time; "" sends none (the
	// API has no such filter and is read whole).
	UpdatedSinceParam string
	// TimeFormat of the cursor time parameter and of record times: TimeRFC3339,
	// TimeUnixSeconds or TimeUnixMillis.
	TimeFormat string
	// AfterIDParam carries the cursor's id; "" when the API has none. Required for
	// CursorID pagination.
	AfterIDParam string
	// PageSizeParam carries the ReadPage limit; "" sends none.
	PageSizeParam string
	// Pagination of the list endpoint.
	Pagination Pagination
	// RecordsPath is the dot-separated JSON path of the records array; "" is the body.
	RecordsPath string
	// IDPath is the dot-separated JSON path of a record's id; required.
	IDPath string
	// UpdatedAtPath is the dot-separated JSON path of a record's update time; required.
	UpdatedAtPath string
	// Sorted says the API returns records ascending by (updatedAt, id); required.
	Sorted *bool
	// GetByIDURL is an absolute URL template holding "{id}" that returns one record; ""
	// when the API has none (FetchByIDs then fails).
	GetByIDURL string
	// GetByIDsURL, optional, is an absolute URL template holding "{ids}" that returns the
	// records of several ids at once (see Source.FetchByIDs); when set, FetchByIDs uses it
	// instead of GetByIDURL.
	GetByIDsURL string
	// GetByIDsMax is the most ids one GetByIDsURL request carries; required (>= 1) with
	// GetByIDsURL.
	GetByIDsMax int
}

// Validate reports the first field of the config that is missing or wrong, by name.
func (c SourceConfig) Validate() error {
	base, err := url.Parse(c.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return errors.New("url must be an absolute http or https URL")
	}
	switch c.TimeFormat {
	case TimeRFC3339, TimeUnixSeconds, TimeUnixMillis:
	default:
		return fmt.Errorf("timeFormat must be RFC3339, UnixSeconds or UnixMillis, not %q", c.TimeFormat)
	}
	p := c.Pagination
	switch p.Type {
	case PageLinkHeader:
	case PageNextToken:
		if p.TokenPath == "" {
			return errors.New("pagination.tokenPath is required for NextToken pagination")
		}
		if p.TokenParam == "" {
			return errors.New("pagination.tokenParam is required for NextToken pagination")
		}
	case PageOffset:
		if p.TokenParam == "" {
			return errors.New("pagination.tokenParam is required for Offset pagination")
		}
	case PageCursorID:
		if c.AfterIDParam == "" {
			return errors.New("afterIdParam is required for CursorID pagination")
		}
	default:
		return fmt.Errorf("pagination.type must be NextToken, LinkHeader, CursorID or Offset, not %q", p.Type)
	}
	if c.IDPath == "" {
		return errors.New("idPath must be set")
	}
	if c.UpdatedAtPath == "" {
		return errors.New("updatedAtPath must be set")
	}
	if c.Sorted == nil {
		return errors.New("sorted must be set")
	}
	if c.GetByIDURL != "" {
		g, err := url.Parse(strings.ReplaceAll(c.GetByIDURL, "{id}", "x"))
		if err != nil || !g.IsAbs() || !strings.Contains(c.GetByIDURL, "{id}") {
			return errors.New(`getByIdUrl must be an absolute URL holding "{id}"`)
		}
		if err := sameOrigin("getByIdUrl", c.GetByIDURL, c.URL); err != nil {
			return err
		}
	}
	if c.GetByIDsURL != "" {
		g, err := url.Parse(strings.ReplaceAll(c.GetByIDsURL, "{ids}", "x"))
		if err != nil || !g.IsAbs() || !strings.Contains(c.GetByIDsURL, "{ids}") {
			return errors.New(`getByIdsUrl must be an absolute URL holding "{ids}"`)
		}
		if err := sameOrigin("getByIdsUrl", c.GetByIDsURL, c.URL); err != nil {
			return err
		}
		if c.GetByIDsMax < 1 {
			return fmt.Errorf("getByIdsMax must be at least 1 with getByIdsUrl, not %d", c.GetByIDsMax)
		}
	}
	return nil
}
