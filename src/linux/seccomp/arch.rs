//! The spec's architecture names, what libseccomp calls them, and the
//! AUDIT_ARCH value the kernel puts in `seccomp_data.arch` for each (the
//! ENOSYS stub tests it before libseccomp's program runs).

use libseccomp::{ScmpAction, ScmpArch, ScmpFilterContext};

/// x32 syscalls run under AUDIT_ARCH_X86_64 with this bit set in the number.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// (spec name, AUDIT_ARCH value); x32 shares x86_64's and is told apart by
/// [`X32_SYSCALL_BIT`].
const ARCHS: &[(&str, u32)] = &[
    ("SCMP_ARCH_X86", 0x4000_0003),
    ("SCMP_ARCH_X86_64", 0xc000_003e),
    ("SCMP_ARCH_X32", 0xc000_003e),
    ("SCMP_ARCH_ARM", 0x4000_0028),
    ("SCMP_ARCH_AARCH64", 0xc000_00b7),
    ("SCMP_ARCH_MIPS", 0x0000_0008),
    ("SCMP_ARCH_MIPS64", 0x8000_0008),
    ("SCMP_ARCH_MIPS64N32", 0xa000_0008),
    ("SCMP_ARCH_MIPSEL", 0x4000_0008),
    ("SCMP_ARCH_MIPSEL64", 0xc000_0008),
    ("SCMP_ARCH_MIPSEL64N32", 0xe000_0008),
    ("SCMP_ARCH_PPC", 0x0000_0014),
    ("SCMP_ARCH_PPC64", 0x8000_0015),
    ("SCMP_ARCH_PPC64LE", 0xc000_0015),
    ("SCMP_ARCH_S390", 0x0000_0016),
    ("SCMP_ARCH_S390X", 0x8000_0016),
    ("SCMP_ARCH_PARISC", 0x0000_000f),
    ("SCMP_ARCH_PARISC64", 0x8000_000f),
    ("SCMP_ARCH_RISCV64", 0xc000_00f3),
    ("SCMP_ARCH_LOONGARCH64", 0xc000_0102),
    ("SCMP_ARCH_M68K", 0x0000_0004),
    ("SCMP_ARCH_SH", 0x4000_002a),
    ("SCMP_ARCH_SHEB", 0x0000_002a),
];

/// One architecture of a filter.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Arch {
    pub name: &'static str,
    pub scmp: ScmpArch,
    pub audit: u32,
}

impl Arch {
    pub const X86_64_AUDIT: u32 = 0xc000_003e;

    /// The spec name's architecture, if libseccomp knows it.
    pub fn from_name(name: &str) -> Option<Arch> {
        let &(name, audit) = ARCHS.iter().find(|(n, _)| *n == name)?;
        let scmp = name.parse().ok()?;
        Some(Arch { name, scmp, audit })
    }

    /// The architecture rt runs on (and so the container's processes).
    pub fn native() -> Arch {
        let native = ScmpArch::native();
        ARCHS
            .iter()
            .find_map(|(n, _)| Arch::from_name(n).filter(|a| a.scmp == native))
            .expect("the native architecture is in the spec's list")
    }

    pub fn is_x32(&self) -> bool {
        self.scmp == ScmpArch::X32
    }

    pub fn is_s390(&self) -> bool {
        matches!(self.scmp, ScmpArch::S390 | ScmpArch::S390X)
    }
}

/// The spec's architectures the installed libseccomp can put in a filter.
pub fn supported() -> Vec<&'static str> {
    let Ok(mut ctx) = ScmpFilterContext::new(ScmpAction::Allow) else {
        return Vec::new();
    };
    ARCHS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| Arch::from_name(n).is_some_and(|a| ctx.add_arch(a.scmp).is_ok()))
        .collect()
}
