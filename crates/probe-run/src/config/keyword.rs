//! Config values that are one of a few keywords (`device = "cpu"`, `schedule = "log"`, …):
//! typed enums that parse from, and write as, their TOML strings, with an error naming the key
//! and every accepted value (`invalid value for `measure.schedule`: "sometimes"; expected
//! "every", "every_k" or "log"`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::estimate::quoted;

/// Declares a keyword enum: its variants with their TOML strings, and the config key it is read
/// from (for messages).
macro_rules! keyword_enum {
    ($(#[$meta:meta])* $name:ident, $key:literal, { $($(#[$vmeta:meta])* $var:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $var),+
        }

        impl $name {
            /// Every accepted value, in order.
            pub const VALUES: &'static [&'static str] = &[$($text),+];

            /// The TOML string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$var => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                match s {
                    $($text => Ok(Self::$var),)+
                    other => Err(Error::Invalid(format!(
                        "invalid value for `{}`: {other:?}; expected {}",
                        $key,
                        quoted(Self::VALUES)
                    ))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

keyword_enum!(
    /// `device`: where a run trains and measures.
    DeviceChoice, "device", {
        /// CUDA when probe was built with it and a GPU is present, else the CPU.
        Auto = "auto",
        /// The CPU.
        Cpu = "cpu",
        /// CUDA device 0.
        Cuda = "cuda",
    }
);

keyword_enum!(
    /// `measure.on`: which samples information is measured on.
    MeasureOn, "measure.on", {
        /// Train and test together (IDNNs: all 4096 patterns).
        All = "all",
        /// The training samples.
        Train = "train",
        /// The test samples (Saxe's MNIST protocol).
        Test = "test",
    }
);

keyword_enum!(
    /// `measure.schedule`: which epochs are measured.
    ScheduleKind, "measure.schedule", {
        /// Every epoch.
        Every = "every",
        /// Every `measure.every`-th epoch.
        EveryK = "every_k",
        /// `measure.points` log-spaced epochs.
        Log = "log",
    }
);

keyword_enum!(
    /// `train.optimizer`.
    OptimizerKind, "train.optimizer", {
        /// Adam (`lr`, `beta1`, `beta2`, `eps`).
        Adam = "adam",
        /// SGD (`lr`, `momentum`).
        Sgd = "sgd",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_round_trip_and_name_their_key() {
        for v in ScheduleKind::VALUES {
            assert_eq!(v.parse::<ScheduleKind>().unwrap().as_str(), *v);
        }
        let err = "sometimes".parse::<ScheduleKind>().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid value for `measure.schedule`: \"sometimes\"; expected \"every\", \"every_k\" or \"log\""
        );
        let err = "gpu".parse::<DeviceChoice>().unwrap_err().to_string();
        assert!(
            err.contains("`device`") && err.contains("\"cuda\""),
            "{err}"
        );
    }
}
