package install

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// fakeELF writes a minimal ELF64 little-endian executable header for machine:
// enough for debug/elf, nothing a kernel would run.
func fakeELF(t *testing.T, dir string, machine elf.Machine, osabi elf.OSABI) string {
	t.Helper()
	h := make([]byte, 64)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	h[elf.EI_OSABI] = byte(osabi)
	le := binary.LittleEndian
	le.PutUint16(h[16:], uint16(elf.ET_EXEC))
	le.PutUint16(h[18:], uint16(machine))
	le.PutUint32(h[20:], uint32(elf.EV_CURRENT))
	le.PutUint16(h[52:], 64) // e_ehsize
	le.PutUint16(h[54:], 56) // e_phentsize
	le.PutUint16(h[58:], 64) // e_shentsize
	name := filepath.Join(dir, "hookshim-"+machine.String())
	writeFile(t, name, append(h, randomBytes(t, 4096)...), 0o755)
	return name
}

func TestBinaryPlatform(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		machine elf.Machine
		osabi   elf.OSABI
		want    Platform
	}{
		{elf.EM_X86_64, elf.ELFOSABI_NONE, Platform{"linux", "amd64"}},
		{elf.EM_AARCH64, elf.ELFOSABI_NONE, Platform{"linux", "arm64"}},
		{elf.EM_AARCH64, elf.ELFOSABI_LINUX, Platform{"linux", "arm64"}},
		{elf.EM_X86_64, elf.ELFOSABI_FREEBSD, Platform{"freebsd", "amd64"}},
	} {
		got, err := BinaryPlatform(fakeELF(t, dir, c.machine, c.osabi))
		if err != nil || got != c.want {
			t.Errorf("%s/%s: %v, %v; want %v", c.machine, c.osabi, got, err, c.want)
		}
	}

	// The test binary itself is what runtime says it is.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" {
		got, err := BinaryPlatform(exe)
		if want := (Platform{runtime.GOOS, runtime.GOARCH}); err != nil || got != want {
			t.Errorf("the test binary: %v, %v; want %v", got, err, want)
		}
	}

	script := filepath.Join(dir, "script")
	writeFile(t, script, []byte("#!/bin/sh\necho hi\n"), 0o755)
	_, err = BinaryPlatform(script)
	wantCode(t, err, exitcode.DataErr, "is not an ELF executable")
	_, err = BinaryPlatform(filepath.Join(dir, "nope"))
	wantCode(t, err, exitcode.NoInput, "does not exist")
}

func TestParseUname(t *testing.T) {
	for in, want := range map[string]Platform{
		"Linux x86_64\n":  {"linux", "amd64"},
		"Linux aarch64":   {"linux", "arm64"},
		"Darwin arm64":    {"darwin", "arm64"},
		"Linux armv7l":    {"linux", "arm"},
		"Linux i686":      {"linux", "386"},
		"Linux mips64":    {"linux", "mips64"},
		"FreeBSD amd64\n": {"freebsd", "amd64"},
	} {
		got, err := ParseUname(in)
		if err != nil || got != want {
			t.Errorf("ParseUname(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "Linux", "Linux x86_64 extra", "sh: uname: not found"} {
		if _, err := ParseUname(in); err == nil {
			t.Errorf("ParseUname(%q) accepted", in)
		}
	}
}

func TestSeverity(t *testing.T) {
	if got := MostSevere(exitcode.Unavailable, exitcode.NoPerm, exitcode.DataErr); got != exitcode.NoPerm {
		t.Errorf("MostSevere(69, 77, 65) = %d, want 77", got)
	}
	if got := MostSevere(exitcode.Unavailable, 0); got != exitcode.Unavailable {
		t.Errorf("MostSevere(69, 0) = %d, want 69", got)
	}
	if got := MostSevere(exitcode.IOErr, exitcode.CantCreate, exitcode.Unavailable); got != exitcode.IOErr {
		t.Errorf("MostSevere(74, 73, 69) = %d, want 74", got)
	}
	if got := MostSevere(); got != 0 {
		t.Errorf("MostSevere() = %d", got)
	}
}
