package install

import (
	"context"
	"debug/elf"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/sshtest"
	"github.com/hookshim/hookshim/internal/sshx"
)

var here = Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// hostBin makes a directory of fake commands for a host's PATH.
func hostBin(t *testing.T, scripts map[string]string) string {
	dir := t.TempDir()
	for name, body := range scripts {
		writeFile(t, filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755)
	}
	return dir
}

// otherMachine is a `uname -m` of an architecture other than this one's.
func otherMachine() (uname string, p Platform) {
	if runtime.GOARCH == "arm64" {
		return "x86_64", Platform{"linux", "amd64"}
	}
	return "aarch64", Platform{"linux", "arm64"}
}

// setup starts a host with a bin directory in its home and returns a Remote
// that pushes a fresh random "binary" there.
func setup(t *testing.T, opts sshtest.Options) (*sshtest.Host, Remote, []byte) {
	h := sshtest.Start(t, opts)
	if err := os.Mkdir(filepath.Join(h.Home, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	content := randomBytes(t, 1<<20)
	bin := filepath.Join(t.TempDir(), "hookshim")
	writeFile(t, bin, content, 0o755)
	return h, Remote{Client: h.Client, Binaries: []BinaryFile{{Path: bin, Platform: here}}, Dir: filepath.Join(h.Home, "bin")}, content
}

func pushOne(t *testing.T, ctx context.Context, r Remote, target sshx.Target) HostResult {
	t.Helper()
	res := r.Push(ctx, []sshx.Target{target}, nil)
	if len(res) != 1 {
		t.Fatalf("%d results", len(res))
	}
	return res[0]
}

// pushed counts the push sessions (as opposed to probes) a host ran.
func pushed(t *testing.T, h *sshtest.Host) int {
	n := 0
	for _, c := range h.Commands(t) {
		if strings.Contains(c, `cat >"$tmp"`) {
			n++
		}
	}
	return n
}

func TestRemoteInstallVerifiedThenNothing(t *testing.T) {
	h, r, content := setup(t, sshtest.Options{})
	ctx := testContext(t)
	dst := filepath.Join(h.Home, "bin", "hookshim")

	res := pushOne(t, ctx, r, h.Target)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if !res.Changed || res.Platform != here || res.Path != dst {
		t.Errorf("result %+v", res)
	}
	want := h.Target.String() + ": installed " + dst + " (" + here.String() + ", sha256 " + res.SHA256[:12] + ", verified on the host)"
	if res.String() != want {
		t.Errorf("line %q\nwant %q", res, want)
	}
	wantFile(t, dst, content, 0o755)
	if tmp := temps(t, filepath.Dir(dst)); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	// The push session checked the checksum on the host before the rename.
	cmds := strings.Join(h.Commands(t), "\n")
	for _, step := range []string{"uname -s -m", "sha256sum", "want=$2;", `mv -f -- "$tmp" "$f"`, "' sh '" + filepath.Join(h.Home, "bin") + "' '" + res.SHA256 + "' '"} {
		if !strings.Contains(cmds, step) {
			t.Errorf("the host ran no %q", step)
		}
	}
	if logins := h.Logins(t); logins != 1 {
		t.Errorf("%d SSH logins, want 1 (probe and push share a connection)", logins)
	}

	before, _ := os.Lstat(dst)
	res = pushOne(t, ctx, r, h.Target)
	if res.Err != nil || res.Changed {
		t.Fatalf("second push: %+v", res)
	}
	if !strings.HasSuffix(res.String(), "is already up to date ("+here.String()+", sha256 "+res.SHA256[:12]+"); nothing to do") {
		t.Errorf("line %q", res)
	}
	if n := pushed(t, h); n != 1 {
		t.Errorf("%d transfers, want 1: the second push should only probe", n)
	}
	after, _ := os.Lstat(dst)
	if !os.SameFile(before, after) {
		t.Error("the second push replaced the binary")
	}
}

func TestRemoteReplacesOldBinary(t *testing.T) {
	h, r, content := setup(t, sshtest.Options{})
	dst := filepath.Join(h.Home, "bin", "hookshim")
	writeFile(t, dst, []byte("old"), 0o644)
	res := pushOne(t, testContext(t), r, h.Target)
	if res.Err != nil || !res.Changed {
		t.Fatalf("%+v", res)
	}
	wantFile(t, dst, content, 0o755)
}

func TestRemoteArchitectureMismatch(t *testing.T) {
	m, other := otherMachine()
	bin := hostBin(t, map[string]string{"uname": `[ "$*" = "-s -m" ] || exit 2; echo "Linux ` + m + `"` + "\n"})
	h, r, _ := setup(t, sshtest.Options{HostBin: bin})
	ctx := testContext(t)
	dst := filepath.Join(h.Home, "bin", "hookshim")
	writeFile(t, dst, []byte("old"), 0o755)

	res := pushOne(t, ctx, r, h.Target)
	wantCode(t, res.Err, exitcode.DataErr, "host is "+other.String()+" (uname: Linux "+m+") but the binary is "+here.String(), "nothing was changed")
	if res.Platform != other {
		t.Errorf("host platform %v, want %v", res.Platform, other)
	}
	wantFile(t, dst, []byte("old"), 0o755)
	if n := pushed(t, h); n != 0 {
		t.Errorf("%d transfers to a host of another architecture", n)
	}

	// Given a binary built for that architecture too (its ELF header says so),
	// the host gets that one.
	machine := map[string]elf.Machine{"arm64": elf.EM_AARCH64, "amd64": elf.EM_X86_64}[other.Arch]
	cross := fakeELF(t, t.TempDir(), machine, elf.ELFOSABI_NONE)
	plat, err := BinaryPlatform(cross)
	if err != nil || plat != other {
		t.Fatalf("BinaryPlatform: %v, %v", plat, err)
	}
	r.Binaries = append(r.Binaries, BinaryFile{Path: cross, Platform: plat})
	res = pushOne(t, ctx, r, h.Target)
	if res.Err != nil || !res.Changed || res.Binary != cross {
		t.Fatalf("%+v", res)
	}
	b, _ := os.ReadFile(cross)
	wantFile(t, dst, b, 0o755)

	// Neither binary fits a third kind of host.
	bin = hostBin(t, map[string]string{"uname": "echo 'Linux riscv64'\n"})
	h2, r2, _ := setup(t, sshtest.Options{HostBin: bin})
	r2.Binaries = r.Binaries
	res = pushOne(t, ctx, r2, h2.Target)
	wantCode(t, res.Err, exitcode.DataErr, "host is linux/riscv64 (uname: Linux riscv64) but no binary given is for it ("+here.String()+", "+other.String()+")")
}

// cutReader gives the first n bytes of r, then fails (err) or, with block set,
// waits for ctx to end.
type cutReader struct {
	r       io.Reader
	n       int64
	err     error
	block   context.Context
	reached chan struct{}
	once    sync.Once
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.once.Do(func() { close(c.reached) })
		if c.block != nil {
			<-c.block.Done()
			return 0, c.block.Err()
		}
		return 0, c.err
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	k, err := c.r.Read(p)
	c.n -= int64(k)
	return k, err
}

func (c *cutReader) Close() error { return nil }

func TestRemoteTransferCutShortKeepsOldBinary(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"read error", errors.New("disk on fire"), "disk on fire"},
		{"early end", io.EOF, "received 524288 of 1048576 bytes: the transfer was cut short"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, r, _ := setup(t, sshtest.Options{})
			dst := filepath.Join(h.Home, "bin", "hookshim")
			writeFile(t, dst, []byte("old"), 0o755)
			r.open = func(name string) (io.ReadCloser, error) {
				f, err := os.Open(name)
				if err != nil {
					return nil, err
				}
				t.Cleanup(func() { f.Close() })
				return &cutReader{r: f, n: 512 << 10, err: c.err, reached: make(chan struct{})}, nil
			}
			res := pushOne(t, testContext(t), r, h.Target)
			wantCode(t, res.Err, exitcode.IOErr, c.want, "the old binary is unchanged")
			wantFile(t, dst, []byte("old"), 0o755)
			if tmp := temps(t, filepath.Dir(dst)); len(tmp) != 0 {
				t.Errorf("temporary files left: %v", tmp)
			}
		})
	}
}

// The ssh is killed while the binary is on its way: the old binary stays, and
// the host removes its temporary file.
func TestRemoteKilledTransferKeepsOldBinary(t *testing.T) {
	h, r, _ := setup(t, sshtest.Options{})
	dir := filepath.Join(h.Home, "bin")
	dst := filepath.Join(dir, "hookshim")
	writeFile(t, dst, []byte("old"), 0o755)
	w := watchDir(t, dir)

	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	reached := make(chan struct{})
	r.open = func(name string) (io.ReadCloser, error) {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { f.Close() })
		return &cutReader{r: f, n: 512 << 10, block: ctx, reached: reached}, nil
	}
	done := make(chan HostResult)
	go func() { done <- pushOne(t, ctx, r, h.Target) }()

	// Half the binary is sent; wait until the host has written some of it.
	select {
	case <-reached:
	case res := <-done:
		t.Fatalf("the push ended before the transfer was cut: %+v", res)
	}
	w.until(t, "a partly written temporary file", func() bool {
		for _, n := range temps(t, dir) {
			if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && fi.Size() > 0 {
				return true
			}
		}
		return false
	})
	cancel()
	res := <-done
	wantCode(t, res.Err, exitcode.Unavailable, "the transfer was interrupted", "context canceled", "nothing is half-installed")
	w.until(t, "the temporary file to go", func() bool { return len(temps(t, dir)) == 0 })
	wantFile(t, dst, []byte("old"), 0o755)
}

func TestRemoteUnreachableAmongOthers(t *testing.T) {
	hosts := sshtest.StartN(t, 2)
	content := randomBytes(t, 4096)
	bin := filepath.Join(t.TempDir(), "hookshim")
	writeFile(t, bin, content, 0o755)
	closed := sshtest.ClosedTarget(t)
	// Every host has the same home layout: the binary goes to ~/bin.
	for _, h := range hosts {
		os.Mkdir(filepath.Join(h.Home, "bin"), 0o755)
	}
	r := Remote{Client: hosts[0].Client, Binaries: []BinaryFile{{Path: bin, Platform: here}}, Dir: "~/bin", Parallel: 2}
	targets := []sshx.Target{hosts[0].Target, closed, hosts[1].Target}
	var lines []string
	res := r.Push(testContext(t), targets, func(hr HostResult) { lines = append(lines, hr.String()) })
	if len(res) != 3 || len(lines) != 3 {
		t.Fatalf("%d results, %d lines", len(res), len(lines))
	}
	line := map[sshx.Target]string{} // the lines come as the hosts finish
	for _, l := range lines {
		for _, tg := range targets {
			if strings.HasPrefix(l, tg.String()+": ") {
				line[tg] = l
			}
		}
	}
	for i, hr := range res {
		if hr.Target != targets[i] {
			t.Errorf("result %d is for %s, want %s", i, hr.Target, targets[i])
		}
		if line[targets[i]] == "" {
			t.Errorf("no line for %s in %q", targets[i], lines)
		}
	}
	for _, i := range []int{0, 2} {
		h := hosts[i/2]
		if res[i].Err != nil || !res[i].Changed || res[i].Path != "~/bin/hookshim" {
			t.Errorf("host %s: %+v", h.Target, res[i])
		}
		wantFile(t, filepath.Join(h.Home, "bin", "hookshim"), content, 0o755)
	}
	wantCode(t, res[1].Err, exitcode.Unavailable, "cannot reach "+closed.String())
	if !strings.HasPrefix(line[closed], closed.String()+": failed: cannot reach") {
		t.Errorf("line %q", line[closed])
	}
}

func TestRemoteDirectoryProblems(t *testing.T) {
	h, r, _ := setup(t, sshtest.Options{})
	ctx := testContext(t)
	file := filepath.Join(h.Home, "file")
	writeFile(t, file, []byte("x"), 0o644)

	r.Dir = filepath.Join(h.Home, "nope")
	wantCode(t, pushOne(t, ctx, r, h.Target).Err, exitcode.CantCreate, r.Dir+" does not exist on the host")
	r.Dir = file
	wantCode(t, pushOne(t, ctx, r, h.Target).Err, exitcode.CantCreate, "is not a directory")

	r.Dir = filepath.Join(h.Home, "bin")
	os.Symlink(file, filepath.Join(r.Dir, "hookshim"))
	wantCode(t, pushOne(t, ctx, r, h.Target).Err, exitcode.CantCreate, "is a symlink")
	os.Remove(filepath.Join(r.Dir, "hookshim"))
	os.Mkdir(filepath.Join(r.Dir, "hookshim"), 0o755)
	wantCode(t, pushOne(t, ctx, r, h.Target).Err, exitcode.CantCreate, "is a directory")
	if fi, err := os.Lstat(filepath.Join(r.Dir, "hookshim")); err != nil || !fi.IsDir() {
		t.Error("the directory in the way was touched")
	}
	if n := pushed(t, h); n != 0 {
		t.Errorf("%d transfers", n)
	}

	// A directory the SSH user may not write to: 77, and a hint at --sudo.
	r.Dir = unwritableDir(t)
	res := pushOne(t, ctx, r, h.Target)
	wantCode(t, res.Err, exitcode.NoPerm, "the SSH user cannot write to "+r.Dir+" on the host", "Permission denied", "nothing was changed")
	if e, ok := res.Err.(*exitcode.Error); !ok || len(e.Hints) == 0 || !strings.Contains(e.Hints[0], "--sudo") {
		t.Errorf("no hint at --sudo: %#v", res.Err)
	}
	if n := pushed(t, h); n != 0 {
		t.Errorf("%d transfers", n)
	}
}

func TestRemoteReadOnlyDir(t *testing.T) {
	h, r, _ := setup(t, sshtest.Options{})
	r.Dir = mountTmpfs(t, "1m", true, func(dir string) {
		writeFile(t, filepath.Join(dir, "hookshim"), []byte("old"), 0o755)
	})
	res := pushOne(t, testContext(t), r, h.Target)
	wantCode(t, res.Err, exitcode.CantCreate, "on the host is on a read-only file system; nothing was changed")
	wantFile(t, filepath.Join(r.Dir, "hookshim"), []byte("old"), 0o755)
}

func TestRemoteSudo(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sudo.log")
	bin := hostBin(t, map[string]string{"sudo": `[ "$1" = -n ] || { echo "sudo: would prompt" >&2; exit 1; }
shift; echo "$1 $2" >>'` + log + `'; exec "$@"
`})
	h, r, content := setup(t, sshtest.Options{HostBin: bin})
	r.Sudo = true
	res := pushOne(t, testContext(t), r, h.Target)
	if res.Err != nil || !res.Changed {
		t.Fatalf("%+v", res)
	}
	wantFile(t, filepath.Join(h.Home, "bin", "hookshim"), content, 0o755)
	if b, _ := os.ReadFile(log); string(b) != "sh -c\n" {
		t.Errorf("sudo ran %q, want one `sudo -n sh -c`", b)
	}

	bin = hostBin(t, map[string]string{"sudo": "echo 'sudo: a password is required' >&2; exit 1\n"})
	h, r, _ = setup(t, sshtest.Options{HostBin: bin})
	r.Sudo = true
	res = pushOne(t, testContext(t), r, h.Target)
	wantCode(t, res.Err, exitcode.NoPerm, "sudo: a password is required")
	if _, err := os.Lstat(filepath.Join(h.Home, "bin", "hookshim")); err == nil {
		t.Error("something was installed")
	}
}

// dirWatch wakes a test on every change in a directory (inotify), so it can
// wait for what another process does there without sleeping.
type dirWatch struct{ f *os.File }

// until returns once cond holds, checking it after every change in the
// directory; it fails the test after 30 s.
func (w *dirWatch) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	buf := make([]byte, 64<<10)
	for !cond() {
		w.f.SetReadDeadline(deadline)
		if _, err := w.f.Read(buf); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
}

// A target directory whose name is shell syntax is where the binary goes,
// with or without sudo, and nothing in the name runs: the directory reaches
// the probe and the push (and sudo's sh) as an argument.
func TestRemoteDirIsAnArgument(t *testing.T) {
	bin := hostBin(t, map[string]string{"sudo": `[ "$1" = -n ] || exit 1; shift; exec "$@"` + "\n"})
	for _, sudo := range []bool{false, true} {
		h, r, content := setup(t, sshtest.Options{HostBin: bin})
		r.Dir = filepath.Join(h.Home, "b $(touch pwned) `touch pwned` '; touch pwned; '\"")
		if err := os.Mkdir(r.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
		r.Sudo = sudo
		res := pushOne(t, testContext(t), r, h.Target)
		if res.Err != nil || !res.Changed {
			t.Fatalf("sudo %v: %+v", sudo, res)
		}
		wantFile(t, filepath.Join(r.Dir, "hookshim"), content, 0o755)
		if _, err := os.Stat(filepath.Join(h.Home, "pwned")); err == nil {
			t.Fatalf("sudo %v: the directory's name ran as a command", sudo)
		}
		if res = pushOne(t, testContext(t), r, h.Target); res.Err != nil || res.Changed {
			t.Fatalf("sudo %v, again: %+v", sudo, res)
		}
	}
}

// Parallel bounds how many hosts are worked on at once, and each sees every
// host's result once.
func TestRemotePushBound(t *testing.T) {
	const n, bound = 4, 2
	hosts := sshtest.StartN(t, n)
	bin := filepath.Join(t.TempDir(), "hookshim")
	writeFile(t, bin, randomBytes(t, 4096), 0o755)
	var targets []sshx.Target
	for _, h := range hosts {
		os.Mkdir(filepath.Join(h.Home, "bin"), 0o755)
		targets = append(targets, h.Target)
	}
	var mu sync.Mutex
	active, most := 0, 0
	entered, release := make(chan struct{}, n), make(chan struct{})
	r := Remote{Client: hosts[0].Client, Binaries: []BinaryFile{{Path: bin, Platform: here}}, Dir: "~/bin", Parallel: bound}
	r.open = func(name string) (io.ReadCloser, error) {
		mu.Lock()
		active++
		most = max(most, active)
		mu.Unlock()
		entered <- struct{}{}
		<-release
		mu.Lock()
		active--
		mu.Unlock()
		return os.Open(name)
	}
	wait := func(k int) {
		for range k {
			select {
			case <-entered:
			case <-time.After(30 * time.Second):
				t.Fatal("no push started")
			}
		}
	}
	done := make(chan []HostResult)
	var order []sshx.Target
	go func() {
		done <- r.Push(testContext(t), targets, func(hr HostResult) { order = append(order, hr.Target) })
	}()
	wait(bound)
	for range n - bound {
		release <- struct{}{} // one ends, the next starts
		wait(1)
	}
	for range bound {
		release <- struct{}{}
	}
	res := <-done
	for i, hr := range res {
		if hr.Err != nil || !hr.Changed || hr.Target != targets[i] {
			t.Errorf("result %d: %+v", i, hr)
		}
	}
	if len(order) != n {
		t.Errorf("each was called for %v, want every host once", order)
	}
	if most != bound {
		t.Errorf("%d hosts at once, want at most (and at some point exactly) %d", most, bound)
	}
}

// Each host's result is handed out as soon as that host is done: a host that
// hangs first in the list holds up no other host's line.
func TestRemoteEachHostAsItFinishes(t *testing.T) {
	h, r, _ := setup(t, sshtest.Options{})
	// A host that accepts the connection and says nothing until the test
	// closes it; ssh waits for its banner far longer than this test runs.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	client := *r.Client
	client.ConnectTimeout = 10 * time.Minute
	r.Client = &client
	hung := sshx.Target{User: h.Target.User, Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}
	finished := make(chan HostResult, 2)
	go r.Push(testContext(t), []sshx.Target{hung, h.Target}, func(hr HostResult) { finished <- hr })
	next := func() HostResult {
		select {
		case hr := <-finished:
			return hr
		case <-time.After(60 * time.Second):
			t.Fatal("no host finished")
		}
		return HostResult{}
	}
	if first := next(); first.Target != h.Target || first.Err != nil || !first.Changed {
		t.Fatalf("first result %+v, want the reachable host's, installed, while the other hangs", first)
	}
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(60 * time.Second):
		t.Fatal("the hung host was never connected to")
	}
	if second := next(); second.Target != hung {
		t.Fatalf("second result %+v, want the hung host's", second)
	} else {
		wantCode(t, second.Err, exitcode.Unavailable)
	}
}
