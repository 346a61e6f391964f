package pgtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"
)

// helperEnv makes the test binary act as a plain program that starts a server, prints its
// port and postmaster pid, and waits to be killed.
const helperEnv = "PGTEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		s, err := Start(context.Background(), Options{})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(s.Port(), s.pid, s.dir)
		select {}
	}
	os.Exit(m.Run())
}

func TestStartCreateDBStop(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	s, err := Start(ctx, Options{Settings: map[string]string{"synchronous_commit": "off"}})
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(s.CreateDB(ctx, "app")).To(Succeed())
	conn, err := pgx.Connect(ctx, s.DSN("app"))
	g.Expect(err).NotTo(HaveOccurred())
	var db, fsync, syncCommit, user string
	g.Expect(conn.QueryRow(ctx, "SELECT current_database(), current_setting('fsync'), current_setting('synchronous_commit'), current_user").
		Scan(&db, &fsync, &syncCommit, &user)).To(Succeed())
	g.Expect(db).To(Equal("app"))
	g.Expect(fsync).To(Equal("on"))
	g.Expect(syncCommit).To(Equal("off"))
	g.Expect(user).To(Equal(Superuser))
	g.Expect(conn.Close(ctx)).To(Succeed())

	g.Expect(s.CreateDB(ctx, "app")).To(MatchError(ContainSubstring("already exists")))

	g.Expect(s.Stop()).To(Succeed())
	g.Expect(s.Stop()).To(Succeed(), "Stop is idempotent")
	_, err = os.Stat(s.dir)
	g.Expect(os.IsNotExist(err)).To(BeTrue(), "directory removed")
	_, err = pgx.Connect(ctx, s.DSN("postgres"))
	g.Expect(err).To(HaveOccurred())
}

func TestHBALinesComeFirst(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	s := StartT(t, Options{HBA: []string{"host all alice 127.0.0.1/32 scram-sha-256"}})
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	g.Expect(err).NotTo(HaveOccurred())
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE ROLE alice LOGIN PASSWORD 's3cret-pw'")
	g.Expect(err).NotTo(HaveOccurred())

	_, err = pgx.Connect(ctx, fmt.Sprintf("postgres://alice:wrong@127.0.0.1:%d/postgres", s.Port()))
	g.Expect(err).To(MatchError(ContainSubstring("password authentication failed")))
	c2, err := pgx.Connect(ctx, fmt.Sprintf("postgres://alice:s3cret-pw@127.0.0.1:%d/postgres", s.Port()))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c2.Close(ctx)).To(Succeed())
}

// TestServerDiesWithItsProcess kills a process that started a server without stopping it
// and expects the server to shut down by itself.
func TestServerDiesWithItsProcess(t *testing.T) {
	g := NewWithT(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cmd.Start()).To(Succeed())
	line, err := bufio.NewReader(out).ReadString('\n')
	g.Expect(err).NotTo(HaveOccurred())
	fields := strings.Fields(line)
	g.Expect(fields).To(HaveLen(3), line)
	port, _ := strconv.Atoi(fields[0])
	pid, _ := strconv.Atoi(fields[1])
	dir := fields[2]
	g.Expect(syscall.Kill(pid, 0)).To(Succeed(), "server running")

	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", port))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(conn.Close(context.Background())).To(Succeed())

	g.Expect(cmd.Process.Kill()).To(Succeed())
	_ = cmd.Wait()
	g.Eventually(func() error { return syscall.Kill(pid, 0) }).
		WithTimeout(30 * time.Second).WithPolling(20 * time.Millisecond).
		Should(MatchError(syscall.ESRCH))

	// The next Start anywhere removes the dead server's directory.
	removeStaleDirs()
	_, err = os.Stat(dir)
	g.Expect(os.IsNotExist(err)).To(BeTrue(), "stale directory removed")
}
