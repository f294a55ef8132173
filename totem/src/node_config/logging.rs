//! The `logging` section: where the log goes and whether debug is on.

use super::*;

pub(super) fn logging_config(s: &Section) -> Result<LoggingConfig> {
    let mut l = LoggingConfig::default();
    let mut to_logfile = true;
    for e in s.entries() {
        let q = qualified("logging", e);
        match e.key.as_str() {
            "to_stderr" => l.to_stderr = yes_no(&q)?,
            "logfile" => l.logfile = Some(PathBuf::from(&e.value)),
            "to_logfile" | "to_file" => to_logfile = yes_no(&q)?,
            "debug" => {
                l.debug = match e.value.as_str() {
                    "trace" => true,
                    _ => yes_no(&q)?,
                }
            }
            // Cosmetic: accepted, no effect on what we log.
            "to_syslog" | "timestamp" | "fileline" | "function_name" | "syslog_facility"
            | "syslog_priority" | "logfile_priority" | "tags" => {}
            _ => return Err(refused(&q, "not supported by this implementation")),
        }
    }
    for sub in s.subsections() {
        if sub.name != "logger_subsys" {
            return Err(NodeConfigError::Refused {
                key: format!("logging.{}", sub.name),
                value: String::new(),
                line: sub.line,
                reason: "unknown section".into(),
            });
        }
    }
    if !to_logfile {
        l.logfile = None;
    }
    Ok(l)
}
