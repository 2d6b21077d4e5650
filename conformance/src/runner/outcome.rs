//! How a case ends when it does not pass: a failure (the runtime did not do
//! what the spec says) or a skip (this machine cannot run the case).

use std::fmt::Display;

#[derive(Debug)]
pub enum Outcome {
    Fail(String),
    Skip(String),
}

pub type R<T = ()> = Result<T, Outcome>;

/// Fails the case with a formatted message unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::outcome::Outcome::Fail(format!($($fmt)+)));
        }
    };
}

/// Fails when the two values differ, showing both.
macro_rules! ensure_eq {
    // A match, as in assert_eq!, keeps temporaries alive for the comparison.
    ($got:expr, $want:expr, $($fmt:tt)+) => {
        match (&$got, &$want) {
            (got, want) => {
                if got != want {
                    return Err($crate::outcome::Outcome::Fail(format!(
                        "{}: got {:?}, want {:?}", format!($($fmt)+), got, want
                    )));
                }
            }
        }
    };
}

macro_rules! fail {
    ($($fmt:tt)+) => {
        return Err($crate::outcome::Outcome::Fail(format!($($fmt)+)))
    };
}

macro_rules! skip {
    ($($fmt:tt)+) => {
        return Err($crate::outcome::Outcome::Skip(format!($($fmt)+)))
    };
}

pub(crate) use {ensure, ensure_eq, fail, skip};

/// Turns a missing value or an error into a failure with some context.
pub trait OrFail<T> {
    fn or_fail(self, what: &str) -> R<T>;
}

impl<T> OrFail<T> for Option<T> {
    fn or_fail(self, what: &str) -> R<T> {
        self.ok_or_else(|| Outcome::Fail(what.to_owned()))
    }
}

impl<T, E: Display> OrFail<T> for Result<T, E> {
    fn or_fail(self, what: &str) -> R<T> {
        self.map_err(|e| Outcome::Fail(format!("{what}: {e}")))
    }
}
