//! `HostConfig.SecurityOpt`, read as Docker reads it.
//!
//! Checked when a container is created (so a bad option is a 400 and nothing is created) and
//! read again when it starts. The messages match Docker's (`invalid --security-opt 2: "..."`).

use super::seccomp::{Profile, ProfileError, Seccomp};

/// What the security options ask for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityOptions {
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
    /// `systempaths=unconfined`: no masked or read-only /proc and /sys paths.
    pub unconfined_system_paths: bool,
}

/// Why the options were refused.
#[derive(Debug, thiserror::Error)]
pub enum SecurityOptError {
    #[error("invalid --security-opt 1: {0:?}")]
    Malformed(String),
    #[error("invalid --security-opt 2: {0:?}")]
    Unknown(String),
    #[error(transparent)]
    Seccomp(#[from] ProfileError),
}

/// Go's strconv.ParseBool, which Docker uses for `no-new-privileges=<bool>`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Parses the options; a later option overrides an earlier one of the same key.
pub fn parse_security_opts(opts: &[String]) -> Result<SecurityOptions, SecurityOptError> {
    let mut out = SecurityOptions::default();
    for opt in opts {
        match opt.as_str() {
            "no-new-privileges" => {
                out.no_new_privileges = true;
                continue;
            }
            // SELinux labelling off: nothing to do without SELinux.
            "disable" => continue,
            _ => {}
        }
        // `=` is the separator; `:` is the deprecated one, used only when there is no `=`.
        let Some((k, v)) = opt.split_once('=').or_else(|| opt.split_once(':')) else {
            return Err(SecurityOptError::Malformed(opt.clone()));
        };
        match k {
            // Accepted and ignored: this host enforces neither SELinux nor AppArmor profiles.
            "label" | "apparmor" => {}
            "seccomp" => {
                out.seccomp = match v {
                    "unconfined" => Seccomp::Unconfined,
                    "" | "builtin" => Seccomp::Builtin,
                    json => Seccomp::Custom(Box::new(Profile::parse(json)?)),
                }
            }
            "no-new-privileges" => out.no_new_privileges = parse_bool(v).ok_or_else(|| SecurityOptError::Unknown(opt.clone()))?,
            "systempaths" if v == "unconfined" => out.unconfined_system_paths = true,
            _ => return Err(SecurityOptError::Unknown(opt.clone())),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(opts: &[&str]) -> Result<SecurityOptions, SecurityOptError> {
        parse_security_opts(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn docker_forms_are_understood() {
        let o = parse(&[]).unwrap();
        assert_eq!((o.no_new_privileges, &o.seccomp), (false, &Seccomp::Builtin));
        assert!(parse(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(parse(&["no-new-privileges:true"]).unwrap().no_new_privileges);
        assert!(!parse(&["no-new-privileges=false"]).unwrap().no_new_privileges);
        assert_eq!(parse(&["seccomp=unconfined"]).unwrap().seccomp, Seccomp::Unconfined);
        assert_eq!(parse(&["seccomp:unconfined"]).unwrap().seccomp, Seccomp::Unconfined);
        assert_eq!(parse(&["seccomp=builtin"]).unwrap().seccomp, Seccomp::Builtin);
        assert!(parse(&["systempaths=unconfined"]).unwrap().unconfined_system_paths);
        assert!(parse(&["label=disable", "apparmor=unconfined", "disable"]).is_ok());
        // JSON contains ':' but the '=' comes first.
        let o = parse(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#]).unwrap();
        assert!(matches!(o.seccomp, Seccomp::Custom(p) if p.default_action == "SCMP_ACT_ALLOW"));
    }

    #[test]
    fn bad_options_are_refused_like_docker() {
        assert_eq!(parse(&["bogus"]).unwrap_err().to_string(), r#"invalid --security-opt 1: "bogus""#);
        assert_eq!(parse(&["foo=bar"]).unwrap_err().to_string(), r#"invalid --security-opt 2: "foo=bar""#);
        assert_eq!(parse(&["no-new-privileges=maybe"]).unwrap_err().to_string(), r#"invalid --security-opt 2: "no-new-privileges=maybe""#);
        assert!(parse(&["systempaths=confined"]).is_err());
        let err = parse(&["seccomp={nope"]).unwrap_err().to_string();
        assert!(err.starts_with("Decoding seccomp profile failed"), "{err}");
        let err = parse(&[r#"seccomp={"defaultAction":"SCMP_ACT_MAYBE"}"#]).unwrap_err().to_string();
        assert!(err.contains("unknown action"), "{err}");
    }
}
