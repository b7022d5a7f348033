//! Who is who in a benchmark run, and the directory JSON both servers read.
//!
//! * Idle users `1..=idle` (rounded up to whole groups) in conversations `g<k>` of
//!   [`GROUP_SIZE`] members each: user `k*GROUP_SIZE + 1` is the group's caller in the fan-out
//!   phase, the other members receive `group_call_incoming`.
//! * Host users (one per active conversation `act<j>`): each opens the SFU room of its
//!   conversation with `createRoom`, so that calls are active.
//! * Probe users: each a member of one active conversation (`act<p % hosts>`), so their `join`
//!   is answered with `active_group_calls` and `get_active_calls` returns one call.

use std::fmt::Write as _;

/// Members per idle conversation.
pub const GROUP_SIZE: usize = 10;

/// The user / conversation layout of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Idle users (a multiple of [`GROUP_SIZE`]).
    pub idle: usize,
    /// Active conversations (one host each).
    pub hosts: usize,
    /// Probe users.
    pub probes: usize,
}

impl Layout {
    /// A layout for up to `max_sockets` idle sockets.
    pub fn new(max_sockets: usize, hosts: usize, probes: usize) -> Self {
        Self {
            idle: max_sockets.div_ceil(GROUP_SIZE).max(1) * GROUP_SIZE,
            hosts: hosts.max(1),
            probes,
        }
    }

    /// User id of idle socket `i` (0-based).
    pub fn idle_user(&self, i: usize) -> usize {
        i + 1
    }

    /// Conversation of idle group `k`.
    pub fn group_conversation(k: usize) -> String {
        format!("g{k}")
    }

    /// User id of host `j`.
    pub fn host_user(&self, j: usize) -> usize {
        self.idle + 1 + j
    }

    /// Active conversation `j`.
    pub fn active_conversation(j: usize) -> String {
        format!("act{j}")
    }

    /// User id of probe `p`.
    pub fn probe_user(&self, p: usize) -> usize {
        self.idle + self.hosts + 1 + p
    }

    /// The directory JSON (`{users, conversations}`), as Huddle's embedded directory and the
    /// Node reference read it.
    pub fn directory_json(&self) -> String {
        let total = self.idle + self.hosts + self.probes;
        let mut out = String::with_capacity(total * 64);
        out.push_str("{\"users\":[\n");
        for id in 1..=total {
            let sep = if id == total { "" } else { "," };
            // Every fifth user has an avatar file, the others none (both paths get exercised).
            let avatar = if id % 5 == 0 {
                format!("\"u{id}.png\"")
            } else {
                "null".to_owned()
            };
            let _ = writeln!(
                out,
                "{{\"id\":{id},\"name\":\"User Number {id}\",\"avatar\":{avatar}}}{sep}"
            );
        }
        out.push_str("],\"conversations\":[\n");
        let mut conversations = Vec::new();
        for k in 0..self.idle / GROUP_SIZE {
            let members: Vec<String> = (1..=GROUP_SIZE)
                .map(|m| (k * GROUP_SIZE + m).to_string())
                .collect();
            conversations.push(format!(
                "{{\"id\":\"{}\",\"name\":\"Group {k}\",\"avatar\":null,\"members\":[{}]}}",
                Self::group_conversation(k),
                members.join(",")
            ));
        }
        for j in 0..self.hosts {
            let mut members = vec![self.host_user(j).to_string()];
            members.extend(
                (0..self.probes)
                    .filter(|p| p % self.hosts == j)
                    .map(|p| self.probe_user(p).to_string()),
            );
            conversations.push(format!(
                "{{\"id\":\"{}\",\"name\":\"Active {j}\",\"avatar\":\"act{j}.png\",\"members\":[{}]}}",
                Self::active_conversation(j),
                members.join(",")
            ));
        }
        out.push_str(&conversations.join(",\n"));
        out.push_str("\n]}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_ids_do_not_overlap_and_json_parses() -> Result<(), serde_json::Error> {
        let l = Layout::new(25, 3, 7);
        assert_eq!(l.idle, 30);
        assert_eq!(l.idle_user(29), 30);
        assert_eq!(l.host_user(0), 31);
        assert_eq!(l.probe_user(0), 34);
        let v: serde_json::Value = serde_json::from_str(&l.directory_json())?;
        assert_eq!(v["users"].as_array().map(Vec::len), Some(40));
        let convs = v["conversations"].as_array().cloned().unwrap_or_default();
        assert_eq!(convs.len(), 3 + 3);
        assert_eq!(convs[3]["id"], "act0");
        assert_eq!(convs[3]["members"], serde_json::json!([31, 34, 37, 40]));
        Ok(())
    }
}
