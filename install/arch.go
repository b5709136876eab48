package install

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// Platform is an operating system and architecture in Go's terms
// (runtime.GOOS, runtime.GOARCH), e.g. linux/amd64.
type Platform struct {
	OS, Arch string
}

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// elfMachines maps ELF machine types to GOARCH values. Only the little-endian
// 64- and 32-bit variants Go builds for Linux are distinguished.
var elfMachines = map[elf.Machine]string{
	elf.EM_X86_64:  "amd64",
	elf.EM_AARCH64: "arm64",
	elf.EM_386:     "386",
	elf.EM_ARM:     "arm",
	elf.EM_RISCV:   "riscv64",
	elf.EM_PPC64:   "ppc64le",
	elf.EM_S390:    "s390x",
}

// BinaryPlatform reads the ELF header of the executable at path and returns the
// platform it is built for. It fails with exit status 65 for anything that is
// not an ELF executable (a Mach-O binary, a script, a truncated file).
func BinaryPlatform(path string) (Platform, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Platform{}, exitcode.Newf(exitcode.NoInput, "binary %s does not exist", path)
		}
		return Platform{}, fsError(err, exitcode.NoInput, "cannot read binary %s", path)
	}
	defer f.Close()
	return readPlatform(f, path)
}

func readPlatform(r io.ReaderAt, path string) (Platform, error) {
	ef, err := elf.NewFile(r)
	if err != nil {
		var magic [4]byte
		detail := ""
		if _, rerr := r.ReadAt(magic[:], 0); rerr == nil && string(magic[:]) == elf.ELFMAG {
			detail = fmt.Sprintf(" (a damaged ELF header: %v)", err)
		}
		return Platform{}, exitcode.Newf(exitcode.DataErr, "%s is not an ELF executable%s", path, detail).
			WithHint("hookshim installs Linux binaries; build one with GOOS=linux (see the README's cross-build)")
	}
	if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
		return Platform{}, exitcode.Newf(exitcode.DataErr, "%s is an ELF %s, not an executable", path, ef.Type)
	}
	var p Platform
	switch ef.OSABI {
	case elf.ELFOSABI_NONE, elf.ELFOSABI_LINUX:
		p.OS = "linux"
	case elf.ELFOSABI_FREEBSD:
		p.OS = "freebsd"
	case elf.ELFOSABI_NETBSD:
		p.OS = "netbsd"
	case elf.ELFOSABI_OPENBSD:
		p.OS = "openbsd"
	default:
		p.OS = strings.ToLower(strings.TrimPrefix(ef.OSABI.String(), "ELFOSABI_"))
	}
	arch, ok := elfMachines[ef.Machine]
	if !ok {
		arch = strings.ToLower(strings.TrimPrefix(ef.Machine.String(), "EM_"))
	}
	// A few machine types cover both word sizes or byte orders.
	switch {
	case ef.Machine == elf.EM_PPC64 && ef.Data == elf.ELFDATA2MSB:
		arch = "ppc64"
	case ef.Machine == elf.EM_RISCV && ef.Class == elf.ELFCLASS32:
		arch = "riscv"
	}
	p.Arch = arch
	return p, nil
}

// unameArch maps `uname -m` to GOARCH. Values it does not know are returned
// as they are, so a message can still name them.
func unameArch(m string) string {
	switch m {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64", "aarch64_be":
		if m == "aarch64_be" {
			return "arm64be"
		}
		return "arm64"
	case "i386", "i486", "i586", "i686":
		return "386"
	case "armv6l", "armv7l", "armv7", "armhf", "arm":
		return "arm"
	case "riscv64":
		return "riscv64"
	case "ppc64le":
		return "ppc64le"
	case "ppc64":
		return "ppc64"
	case "s390x":
		return "s390x"
	}
	return m
}

// unameOS maps `uname -s` to GOOS.
func unameOS(s string) string {
	switch s {
	case "Linux":
		return "linux"
	case "Darwin":
		return "darwin"
	case "FreeBSD":
		return "freebsd"
	case "OpenBSD":
		return "openbsd"
	case "NetBSD":
		return "netbsd"
	}
	return strings.ToLower(s)
}

// ParseUname turns the output of `uname -s -m` ("Linux x86_64") into a Platform.
func ParseUname(out string) (Platform, error) {
	f := strings.Fields(out)
	if len(f) != 2 {
		return Platform{}, fmt.Errorf("unexpected output of `uname -s -m`: %q", strings.TrimSpace(out))
	}
	return Platform{OS: unameOS(f[0]), Arch: unameArch(f[1])}, nil
}

// Static reports whether the ELF executable at path is statically linked: it
// names no program interpreter (dynamic loader). A dynamically linked binary
// (a Go build with cgo) runs only on hosts with a matching C library.
func Static(path string) (bool, error) {
	ef, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}
