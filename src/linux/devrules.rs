//! The device rules of a container (the config's `linux.resources.devices`,
//! then what every container needs, then its `linux.devices`), which the
//! cgroup v1 devices controller takes as lines and cgroup v2 as an eBPF
//! program (`bpfdev`).
//!
//! The v1 controller keeps a default (allow or deny everything) and
//! a list of exceptions. The kernel removes an exception only on an exact
//! match, so a rule that narrows an earlier wildcard exception ("allow
//! c 42:*, then deny c 42:2") would be silently ignored. config-linux.md
//! says to apply the entries in order and runtime.md says an entry that
//! cannot be applied is an error, so on v1 such lists are refused (as runc
//! does); the eBPF program applies them as listed.

use oci_spec::runtime::LinuxDeviceCgroup;

#[derive(Debug, thiserror::Error)]
#[error(
    "linux.resources.devices[{index}]: {rule} cannot be applied by the cgroup v1 devices controller (it would punch a hole in the earlier wildcard rule {wildcard})"
)]
pub struct DevRuleError {
    index: usize,
    rule: String,
    wildcard: String,
}

/// One rule: `kind` is `a` (all), `c` or `b`; `None` is the `*` wildcard.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Rule {
    pub allow: bool,
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

/// What runc allows every container after the config's rules.
const DEFAULT_ALLOWED: &[(char, Option<i64>, Option<i64>, &str)] = &[
    ('c', None, None, "m"),
    ('b', None, None, "m"),
    ('c', Some(1), Some(3), "rwm"),
    ('c', Some(1), Some(5), "rwm"),
    ('c', Some(1), Some(7), "rwm"),
    ('c', Some(1), Some(8), "rwm"),
    ('c', Some(1), Some(9), "rwm"),
    ('c', Some(5), Some(0), "rwm"),
    ('c', Some(5), Some(1), "rwm"),
    ('c', Some(5), Some(2), "rwm"),
    ('c', Some(136), None, "rwm"),
];

/// The container's rules in the order they apply: the config's, then the
/// devices every container needs. As runc, `linux.devices` entries get no
/// rule of their own: the config's list decides who may use them (config-
/// linux.md: access to devices is controlled with the cgroup).
pub fn container_rules(config: &[LinuxDeviceCgroup]) -> Vec<Rule> {
    let allow = |kind, major, minor, access: &str| Rule {
        allow: true,
        kind,
        major,
        minor,
        access: access.to_string(),
    };
    config
        .iter()
        .map(Rule::from_spec)
        .chain(
            DEFAULT_ALLOWED
                .iter()
                .map(|&(k, ma, mi, a)| allow(k, ma, mi, a)),
        )
        .collect()
}

impl Rule {
    fn from_spec(r: &LinuxDeviceCgroup) -> Rule {
        Rule {
            allow: r.allow(),
            kind: r
                .typ()
                .map_or('a', |t| t.as_str().chars().next().unwrap_or('a')),
            // runc takes a negative number as the wildcard too.
            major: r.major().filter(|n| *n >= 0),
            minor: r.minor().filter(|n| *n >= 0),
            access: r.access().clone().unwrap_or_else(|| "rwm".into()),
        }
    }

    /// The line for devices.allow or devices.deny: `c 1:3 rwm`.
    pub fn v1_line(&self) -> String {
        let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
        let (major, minor) = (num(self.major), num(self.minor));
        format!("{} {major}:{minor} {}", self.kind, self.access)
    }

    /// `a *:*` (or `a` alone) resets the default and clears all exceptions.
    fn is_everything(&self) -> bool {
        self.kind == 'a' && self.major.is_none() && self.minor.is_none()
    }

    fn same_node(&self, other: &Rule) -> bool {
        self.kind == other.kind && self.major == other.major && self.minor == other.minor
    }

    /// True when `self` is a wildcard exception that covers `narrower`
    /// without being the same node, sharing some access.
    fn covers_without_matching(&self, narrower: &Rule) -> bool {
        let part = |wide: Option<i64>, narrow: Option<i64>| wide.is_none() || wide == narrow;
        let kind_covers = self.kind == 'a' || self.kind == narrower.kind;
        kind_covers
            && part(self.major, narrower.major)
            && part(self.minor, narrower.minor)
            && !self.same_node(narrower)
            && narrower.access.chars().any(|c| self.access.contains(c))
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", self.v1_line())
    }
}

/// Checks that applying `rules` in order, starting from a controller that
/// allows everything (a new cgroup's default), does what they say.
pub fn check_v1(rules: &[LinuxDeviceCgroup]) -> Result<(), DevRuleError> {
    let mut default_allow = true;
    let mut exceptions: Vec<Rule> = Vec::new();
    for (index, spec_rule) in rules.iter().enumerate() {
        let rule = Rule::from_spec(spec_rule);
        if rule.is_everything() {
            default_allow = spec_rule.allow();
            exceptions.clear();
        } else if spec_rule.allow() != default_allow {
            exceptions.push(rule);
        } else if let Some(wide) = exceptions.iter().find(|e| e.covers_without_matching(&rule)) {
            return Err(DevRuleError {
                index,
                rule: rule.to_string(),
                wildcard: wide.to_string(),
            });
        } else {
            exceptions.retain(|e| !e.same_node(&rule));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn hole_in_wildcard_is_refused() {
        let r = rules(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":42,"access":"rw"},
                {"allow":false,"type":"c","major":42,"minor":2,"access":"rw"}]"#,
        );
        let err = check_v1(&r).unwrap_err().to_string();
        assert!(err.contains("linux.resources.devices[2]"), "{err}");
        assert!(err.contains("c 42:*"), "{err}");
    }

    #[test]
    fn ordinary_lists_pass() {
        let r = rules(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
                {"allow":false,"type":"c","major":1,"minor":3,"access":"w"},
                {"allow":true,"type":"c","major":42,"access":"rw"},
                {"allow":false,"type":"b","major":42,"minor":2,"access":"rw"}]"#,
        );
        check_v1(&r).unwrap();
    }

    #[test]
    fn reset_clears_exceptions() {
        let r = rules(
            r#"[{"allow":true,"type":"c","major":42,"access":"rw"},
                {"allow":false,"access":"rwm"},
                {"allow":false,"type":"c","major":42,"minor":2,"access":"rw"}]"#,
        );
        check_v1(&r).unwrap();
    }
}
