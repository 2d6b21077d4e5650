//! The ENOSYS stub, as runc's patchbpf: a syscall numbered above every
//! syscall the profile names (per architecture) is one the profile's author
//! did not know, so it gets ENOSYS ("not implemented", which libc and
//! programs fall back from) instead of the default errno or kill, which
//! they would take as a real refusal. The stub is a short BPF program put
//! in front of libseccomp's: it looks only at the architecture and the
//! syscall number, returns ENOSYS or jumps into libseccomp's program.

use super::arch::{Arch, X32_SYSCALL_BIT};
use libc::sock_filter;

const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
/// Offsets in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        code: (libc::BPF_JMP | code | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

fn load(offset: u32) -> sock_filter {
    stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset)
}

fn ret_enosys() -> sock_filter {
    stmt(libc::BPF_RET | libc::BPF_K, ENOSYS)
}

/// The highest syscall number the profile names on one architecture.
pub struct Last {
    pub arch: Arch,
    pub nr: u32,
}

/// The stub for `lasts` (architectures without a named syscall left out),
/// to be put in front of libseccomp's program.
pub fn stub(lasts: &[Last]) -> Vec<sock_filter> {
    let mut audits: Vec<u32> = lasts.iter().map(|l| l.arch.audit).collect();
    audits.sort_unstable();
    audits.dedup();
    let mut prog = vec![load(ARCH_OFFSET)];
    // The `ja` at the end of each section, patched once the length is known.
    let mut exits = Vec::new();
    for audit in audits {
        let same: Vec<&Last> = lasts.iter().filter(|l| l.arch.audit == audit).collect();
        let body = section(&same);
        // Not this architecture: skip the section (and its `ja`).
        prog.push(jump(libc::BPF_JEQ, audit, 0, (body.len() + 1) as u8));
        prog.extend(body);
        exits.push(prog.len());
        prog.push(stmt(libc::BPF_JMP | libc::BPF_JA, 0));
    }
    let end = prog.len();
    for i in exits {
        prog[i].k = (end - i - 1) as u32;
    }
    prog
}

/// The checks of one AUDIT_ARCH: x86_64 and x32 share one and differ by a
/// bit of the number; a syscall of a mode the filter lacks goes on to
/// libseccomp's program, which treats it as a foreign architecture.
fn section(lasts: &[&Last]) -> Vec<sock_filter> {
    let mut body = vec![load(NR_OFFSET)];
    let shares_x86_64 = lasts.iter().any(|l| l.arch.audit == Arch::X86_64_AUDIT);
    for last in lasts {
        if last.arch.is_x32() {
            // Not an x32 syscall: skip this check.
            body.push(jump(libc::BPF_JSET, X32_SYSCALL_BIT, 0, 2));
        } else if shares_x86_64 {
            // An x32 syscall: skip this check.
            body.push(jump(libc::BPF_JSET, X32_SYSCALL_BIT, 2, 0));
        }
        body.push(jump(libc::BPF_JGT, last.nr, 0, 1));
        body.push(ret_enosys());
        if last.arch.is_s390() {
            // s390 multiplexes syscalls it does not know onto number 0.
            body.push(jump(libc::BPF_JEQ, 0, 0, 1));
            body.push(ret_enosys());
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program on (arch, nr), as the kernel would.
    fn run(prog: &[sock_filter], arch: u32, nr: u32) -> Option<u32> {
        let mut acc = 0;
        let mut pc = 0;
        while pc < prog.len() {
            let i = prog[pc];
            let code = i.code as u32;
            pc += 1;
            match code {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    acc = if i.k == ARCH_OFFSET { arch } else { nr }
                }
                c if c == libc::BPF_RET | libc::BPF_K => return Some(i.k),
                c if c == libc::BPF_JMP | libc::BPF_JA => pc += i.k as usize,
                _ => {
                    let taken = match code & 0xf0 {
                        c if c == libc::BPF_JEQ => acc == i.k,
                        c if c == libc::BPF_JGT => acc > i.k,
                        c if c == libc::BPF_JSET => acc & i.k != 0,
                        _ => panic!("unexpected code {code:#x}"),
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
            }
        }
        None // fell through into the filter
    }

    fn arch(name: &str) -> Arch {
        Arch::from_name(name).unwrap()
    }

    #[test]
    fn numbers_above_the_last_get_enosys_per_architecture() {
        let (x86_64, x32, x86) = (
            arch("SCMP_ARCH_X86_64"),
            arch("SCMP_ARCH_X32"),
            arch("SCMP_ARCH_X86"),
        );
        let prog = stub(&[
            Last {
                arch: x86_64,
                nr: 300,
            },
            Last {
                arch: x32,
                nr: X32_SYSCALL_BIT + 200,
            },
            Last { arch: x86, nr: 100 },
        ]);
        let a = x86_64.audit;
        assert_eq!(run(&prog, a, 300), None);
        assert_eq!(run(&prog, a, 301), Some(ENOSYS));
        assert_eq!(run(&prog, a, X32_SYSCALL_BIT + 200), None);
        assert_eq!(run(&prog, a, X32_SYSCALL_BIT + 201), Some(ENOSYS));
        assert_eq!(run(&prog, x86.audit, 100), None);
        assert_eq!(run(&prog, x86.audit, 101), Some(ENOSYS));
        // Another architecture is libseccomp's to refuse.
        assert_eq!(run(&prog, arch("SCMP_ARCH_AARCH64").audit, 999), None);
    }

    #[test]
    fn x32_syscalls_go_to_the_filter_when_x32_is_not_in_it() {
        let x86_64 = arch("SCMP_ARCH_X86_64");
        let prog = stub(&[Last {
            arch: x86_64,
            nr: 300,
        }]);
        assert_eq!(run(&prog, x86_64.audit, 450), Some(ENOSYS));
        assert_eq!(run(&prog, x86_64.audit, X32_SYSCALL_BIT + 1), None);
    }
}
