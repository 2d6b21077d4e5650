//! config.md "Specification version": ociVersion is required and SemVer.

use super::Case;
use super::errors::refused;
use crate::ctx::Ctx;
use crate::outcome::{OrFail, R};
use serde_json::json;

const OCI_VERSION: &str = "ociVersion (string, REQUIRED) MUST be in SemVer v2.0.0 format and specifies the version of the Open Container Initiative Runtime Specification with which the bundle complies.";

pub const CASES: &[Case] = &[
    Case {
        name: "config.oci_version_not_semver_fails",
        clause: "config.md#configSpecificationVersion",
        quote: OCI_VERSION,
        run: not_semver,
    },
    Case {
        name: "config.oci_version_missing_fails",
        clause: "config.md#configSpecificationVersion",
        quote: OCI_VERSION,
        run: missing,
    },
];

/// runtime-tools' misc_props sets "invalid" and expects create to fail
/// (config.md: runtimes MUST generate an error on invalid values).
fn not_semver(ctx: &mut Ctx) -> R {
    ctx.config["ociVersion"] = json!("invalid");
    refused(ctx)
}

fn missing(ctx: &mut Ctx) -> R {
    ctx.config
        .as_object_mut()
        .or_fail("config is not an object")?
        .remove("ociVersion");
    refused(ctx)
}
