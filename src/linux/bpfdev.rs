//! cgroup v2 device rules: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE
//! that rt assembles from the container's rules (`devrules`), loads, and
//! attaches to the container's cgroup (BPF_F_ALLOW_MULTI), replacing the
//! programs rt attached there before.
//!
//! The kernel calls the program for each open or mknod of a device node
//! with the device's type, major, minor and the access asked for (a set of
//! mknod, read, write). The rules apply in the listed order, each access
//! bit deciding on its own: the last rule that matches the device and
//! covers a bit decides that bit, and a bit no rule covers is allowed (a new
//! cgroup allows everything, as on v1). So the program walks the rules from
//! the last one back, keeps the bits still undecided in r6, refuses as soon
//! as a deny rule covers one of them, and allows once allow rules covered
//! them all.

use super::devrules::Rule;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("linux.resources.devices: {op} (cgroup v2 device program for {path}): {source}{log}")]
    Sys {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
        /// The verifier's last words when loading failed.
        log: String,
    },
}

/// One eBPF instruction as the kernel takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    code: u8,
    /// dst in the low nibble, src in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcodes (linux/bpf.h, linux/bpf_common.h).
const LDX_MEM_W: u8 = 0x61;
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const RSH64_K: u8 = 0x77;
const AND64_K: u8 = 0x57;
const JNE_K: u8 = 0x55;
const JEQ_K: u8 = 0x15;
const EXIT: u8 = 0x95;

// struct bpf_cgroup_dev_ctx and its constants.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |bits, c| {
        bits | match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        }
    })
}

/// The instructions of one rule; its jumps go to the end of the block
/// (the next rule) when the rule does not decide.
fn rule_block(rule: &Rule) -> Option<Vec<Insn>> {
    // (register, value) pairs the device must match.
    let mut conds = Vec::new();
    match rule.kind {
        'c' => conds.push((2, DEV_CHAR)),
        'b' => conds.push((2, DEV_BLOCK)),
        _ => {}
    }
    for (reg, n) in [(4, rule.major), (5, rule.minor)] {
        if let Some(n) = n {
            // No device has such a number: the rule matches nothing.
            conds.push((reg, i32::try_from(n).ok()?));
        }
    }
    let bits = access_bits(&rule.access);
    let decide: Vec<Insn> = if rule.allow {
        vec![
            insn(AND64_K, 6, 0, 0, !bits),
            insn(JNE_K, 6, 0, 0, 0), // some bits still undecided
            insn(MOV64_K, 0, 0, 0, 1),
            insn(EXIT, 0, 0, 0, 0),
        ]
    } else {
        vec![
            insn(MOV64_X, 7, 6, 0, 0),
            insn(AND64_K, 7, 0, 0, bits),
            insn(JEQ_K, 7, 0, 0, 0), // covers none of the undecided bits
            insn(MOV64_K, 0, 0, 0, 0),
            insn(EXIT, 0, 0, 0, 0),
        ]
    };
    let mut block: Vec<Insn> = conds
        .into_iter()
        .map(|(reg, value)| insn(JNE_K, reg, 0, 0, value))
        .chain(decide)
        .collect();
    let len = block.len();
    for (i, ins) in block.iter_mut().enumerate() {
        if ins.code == JNE_K || ins.code == JEQ_K {
            ins.off = (len - i - 1) as i16;
        }
    }
    Some(block)
}

/// The whole program for `rules` (in the order they apply).
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0), // r2 = access_type
        insn(MOV64_X, 3, 2, 0, 0),
        insn(RSH64_K, 3, 0, 0, 16),     // r3 = access
        insn(AND64_K, 2, 0, 0, 0xffff), // r2 = type
        insn(LDX_MEM_W, 4, 1, 4, 0),    // r4 = major
        insn(LDX_MEM_W, 5, 1, 8, 0),    // r5 = minor
        insn(MOV64_X, 6, 3, 0, 0),      // r6 = undecided access bits
    ];
    for rule in rules.iter().rev() {
        prog.extend(rule_block(rule).unwrap_or_default());
    }
    prog.push(insn(MOV64_K, 0, 0, 0, 1));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}

// bpf(2) commands, program and attach types, flags.
const BPF_PROG_LOAD: i64 = 5;
const BPF_PROG_ATTACH: i64 = 8;
const BPF_PROG_DETACH: i64 = 9;
const BPF_PROG_GET_FD_BY_ID: i64 = 13;
const BPF_PROG_QUERY: i64 = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The leading fields of union bpf_attr for BPF_PROG_LOAD.
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

/// For BPF_PROG_ATTACH and BPF_PROG_DETACH.
#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgQuery {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
}

fn bpf<T>(cmd: i64, attr: &mut T) -> std::io::Result<i64> {
    // SAFETY: attr is a live, properly laid out bpf_attr prefix of the
    // size given; the kernel zero-extends the rest.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as u32,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(r)
}

fn fd_of(r: i64) -> OwnedFd {
    // SAFETY: a new descriptor the kernel just returned to us.
    unsafe { OwnedFd::from_raw_fd(r as i32) }
}

/// Loads the program for `rules` and attaches it to the cgroup at `dir`,
/// then detaches the device programs attached there before.
pub fn apply(dir: &Path, rules: &[Rule]) -> Result<(), BpfError> {
    let err = |op, source, log: String| BpfError::Sys {
        op,
        path: dir.to_path_buf(),
        source,
        log,
    };
    let cgroup = std::fs::File::open(dir).map_err(|e| err("open", e, String::new()))?;
    let old = attached(&cgroup).map_err(|e| err("query attached programs", e, String::new()))?;
    let prog = load(&program(rules)).map_err(|(e, log)| err("load", e, log))?;
    let mut attach = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attach).map_err(|e| err("attach", e, String::new()))?;
    for id in old {
        let mut get = [id, 0, 0];
        // A program detached meanwhile is gone already.
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut get).map(fd_of) else {
            continue;
        };
        let mut detach = ProgAttach {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            attach_flags: 0,
        };
        bpf(BPF_PROG_DETACH, &mut detach).map_err(|e| err("detach old", e, String::new()))?;
    }
    Ok(())
}

/// IDs of the device programs attached to the cgroup itself.
fn attached(cgroup: &std::fs::File) -> std::io::Result<Vec<u32>> {
    let mut ids = [0u32; 64];
    let mut q = ProgQuery {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut q)?;
    Ok(ids[..q.prog_cnt.min(64) as usize].to_vec())
}

fn load(prog: &[Insn]) -> Result<OwnedFd, (std::io::Error, String)> {
    let license = CString::new("Apache").expect("no NUL");
    let mut log = vec![0u8; 1 << 16];
    let mut name = [0u8; 16];
    name[..6].copy_from_slice(b"rt_dev");
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    if let Ok(fd) = bpf(BPF_PROG_LOAD, &mut attr) {
        return Ok(fd_of(fd));
    }
    // Again with the verifier's log, to say why.
    attr.log_level = 1;
    attr.log_size = log.len() as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(fd_of(fd)),
        Err(e) => {
            let text = String::from_utf8_lossy(&log);
            let text = text.trim_end_matches('\0').trim();
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            let log = match tail.is_empty() {
                true => String::new(),
                false => format!(" (verifier: {})", tail.join("; ")),
            };
            Err((e, log))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program as the kernel would, on one device access.
    fn run(prog: &[Insn], kind: i32, access: i32, major: i32, minor: i32) -> i64 {
        let ctx = [((access << 16) | kind) as u32, major as u32, minor as u32];
        let mut r = [0i64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1);
                    r[dst] = i64::from(ctx[(i.off / 4) as usize]);
                }
                MOV64_X => r[dst] = r[src],
                MOV64_K => r[dst] = i64::from(i.imm),
                RSH64_K => r[dst] = ((r[dst] as u64) >> i.imm) as i64,
                AND64_K => r[dst] &= i64::from(i.imm),
                JNE_K if r[dst] != i64::from(i.imm) => pc += i.off as usize,
                JEQ_K if r[dst] == i64::from(i.imm) => pc += i.off as usize,
                JNE_K | JEQ_K => {}
                EXIT => return r[0],
                c => panic!("unknown opcode {c:#x}"),
            }
            assert!(pc < prog.len(), "ran off the end");
        }
    }

    fn rule(allow: bool, kind: char, major: Option<i64>, minor: Option<i64>, a: &str) -> Rule {
        Rule {
            allow,
            kind,
            major,
            minor,
            access: a.into(),
        }
    }

    const RW: i32 = ACC_READ | ACC_WRITE;

    #[test]
    fn deny_all_then_allow_one() {
        let p = program(&[
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', Some(1), Some(3), "rwm"),
            rule(true, 'c', Some(42), None, "r"),
        ]);
        assert_eq!(run(&p, DEV_CHAR, RW, 1, 3), 1);
        assert_eq!(run(&p, DEV_BLOCK, RW, 1, 3), 0);
        assert_eq!(run(&p, DEV_CHAR, RW, 1, 4), 0);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 42, 9), 1);
        assert_eq!(run(&p, DEV_CHAR, RW, 42, 9), 0);
        assert_eq!(run(&p, DEV_CHAR, ACC_MKNOD, 42, 9), 0);
    }

    #[test]
    fn last_rule_wins_per_access_bit() {
        let p = program(&[
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', Some(1), Some(3), "rwm"),
            rule(false, 'c', Some(1), Some(3), "w"),
            rule(true, 'c', Some(42), None, "rw"),
            rule(false, 'c', Some(42), Some(2), "rw"),
            rule(true, 'c', Some(7), Some(1), "r"),
            rule(true, 'c', Some(7), Some(1), "w"),
        ]);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, ACC_WRITE, 1, 3), 0);
        assert_eq!(run(&p, DEV_CHAR, RW, 1, 3), 0);
        assert_eq!(run(&p, DEV_CHAR, ACC_MKNOD, 1, 3), 1);
        // A hole in a wildcard, which v1 cannot express.
        assert_eq!(run(&p, DEV_CHAR, RW, 42, 1), 1);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 42, 2), 0);
        // Two rules together allow read and write.
        assert_eq!(run(&p, DEV_CHAR, RW, 7, 1), 1);
    }

    #[test]
    fn no_rules_allow_everything_and_numbers_too_big_match_nothing() {
        assert_eq!(run(&program(&[]), DEV_BLOCK, RW, 8, 0), 1);
        let p = program(&[
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', Some(1 << 40), None, "rwm"),
        ]);
        assert_eq!(run(&p, DEV_CHAR, RW, 0, 0), 0);
    }

    #[test]
    fn container_rules_keep_the_defaults() {
        let config: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":false,"access":"rwm"}]"#).unwrap();
        let rules = super::super::devrules::container_rules(&config);
        let p = program(&rules);
        assert_eq!(run(&p, DEV_CHAR, RW, 1, 3), 1); // /dev/null
        assert_eq!(run(&p, DEV_CHAR, RW, 136, 4), 1); // a pty
        assert_eq!(run(&p, DEV_CHAR, RW, 10, 200), 0); // not a default device
        assert_eq!(run(&p, DEV_BLOCK, ACC_MKNOD, 8, 0), 1);
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ, 8, 0), 0);
    }
}
