package main

import (
	"debug/elf"
	"debug/macho"
	"testing"
)

// checkPlatform checks that bin is built for goos/goarch, and statically
// linked where that is checkable (Linux: no ELF interpreter).
func checkPlatform(t *testing.T, bin, goos, goarch string) {
	t.Helper()
	if goos == "darwin" {
		f, err := macho.Open(bin)
		if err != nil {
			t.Fatalf("%s is not a Mach-O binary: %v", bin, err)
		}
		defer f.Close()
		want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[goarch]
		if f.Cpu != want {
			t.Errorf("%s: cpu %v, want %v", bin, f.Cpu, want)
		}
		return
	}
	checkStatic(t, bin, map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch])
}

func checkStatic(t *testing.T, bin string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s is not an ELF binary: %v", bin, err)
	}
	defer f.Close()
	if f.Machine != machine {
		t.Errorf("%s: machine %v, want %v", bin, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (CGO_ENABLED=0 missing)", bin)
		}
	}
}
