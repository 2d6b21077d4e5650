//! config-linux.md "Masked Paths" and "Readonly Paths": the form of the
//! entries (the effect of valid ones is checked in `linux.rs`).

use super::Case;
use super::errors::refused;
use crate::ctx::Ctx;
use crate::outcome::{OrFail, R};
use serde_json::json;

pub const CASES: &[Case] = &[
    Case {
        name: "masked.relative_path_fails",
        clause: "config-linux.md#configLinuxMaskedPaths",
        quote: "maskedPaths (array of strings, OPTIONAL) will mask over the provided paths inside the container so that they cannot be read. The values MUST be absolute paths in the container namespace.",
        run: masked_relative,
    },
    Case {
        name: "readonly.relative_path_fails",
        clause: "config-linux.md#configLinuxReadonlyPaths",
        quote: "readonlyPaths (array of strings, OPTIONAL) will set the provided paths as readonly inside the container. The values MUST be absolute paths in the container namespace.",
        run: readonly_relative,
    },
];

/// A relative entry is not a valid config: create fails and leaves nothing,
/// whether or not the path exists in the rootfs (runtime-tools'
/// linux_masked_paths and linux_readonly_paths expect the same).
fn relative_entry(ctx: &mut Ctx, list: &str) -> R {
    let rel = "etc/rel-entry";
    std::fs::write(ctx.in_rootfs(&format!("/{rel}")), "x").or_fail("write fixture")?;
    ctx.config["linux"][list] = json!([rel]);
    refused(ctx)
}

fn masked_relative(ctx: &mut Ctx) -> R {
    relative_entry(ctx, "maskedPaths")
}

fn readonly_relative(ctx: &mut Ctx) -> R {
    relative_entry(ctx, "readonlyPaths")
}
