//! Waiting callers hear their position and estimated wait every `acd.announce_every`
//! (`uuid_broadcast` over the music on hold, which resumes after it), and IVR branches read
//! the same live figures. The estimate follows `reference/contact-center-metrics.md`
//! (`acd::ewt`): no minutes are announced while fewer than 10 recent calls back it.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use super::Engine;
use crate::acd::Router;
use crate::acd::ewt::{RecentHandleTimes, announced_minutes, estimated_wait};
use crate::call::Phase;
use crate::domain::{CallId, QueueId, Timestamp};
use crate::esl::Command;
use crate::ivr::LiveQueues;

/// The queues' live figures as IVR branches see them.
pub(super) struct LiveView<'a> {
    pub router: &'a Router,
    pub handle_times: &'a HashMap<QueueId, RecentHandleTimes>,
}

impl std::fmt::Debug for LiveView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveView")
    }
}

impl LiveQueues for LiveView<'_> {
    /// For a caller joining now: every call in the queue not yet answered is ahead.
    fn estimated_wait(&self, queue: &QueueId) -> Option<Duration> {
        let aht = self.handle_times.get(queue)?.average();
        let ahead = self.router.calls_in_queue(queue);
        estimated_wait(ahead, aht, self.router.agents_serving(queue))
    }

    fn agents_serving(&self, queue: &QueueId) -> u32 {
        self.router.agents_serving(queue)
    }
}

impl Engine {
    /// The live figures, for a branch.
    pub(super) fn live_view(&self) -> LiveView<'_> {
        LiveView {
            router: &self.router,
            handle_times: &self.handle_times,
        }
    }

    /// A call entered a queue: its first announcement is due one interval later.
    pub(super) fn schedule_announcement(&mut self, call: CallId, now: Timestamp) {
        let every = self.settings.announce_every;
        if !every.is_zero() {
            self.announcements.insert((now.plus(every), call));
        }
    }

    /// When the next announcement is due.
    pub(super) fn next_announcement(&self) -> Option<Timestamp> {
        self.announcements.first().map(|(at, _)| *at)
    }

    /// Plays every announcement due by `now` and schedules the next one of each call that
    /// is still in its queue.
    pub(super) fn announce_due(&mut self, now: Timestamp) {
        while let Some(&(at, call)) = self.announcements.first() {
            if at > now {
                break;
            }
            self.announcements.pop_first();
            let Some(session) = self.sessions.get(&call) else {
                continue; // ended
            };
            match session.phase {
                Phase::Queued => self.announce(call, now),
                Phase::Offered { .. } => {} // ringing: stay quiet, but keep the turn
                _ => continue,
            }
            self.schedule_announcement(call, now);
        }
    }

    fn announce(&mut self, call: CallId, now: Timestamp) {
        let Some(session) = self.sessions.get_mut(&call) else {
            return;
        };
        let (Some(queue), Some(ahead)) = (session.queue.clone(), self.router.calls_ahead(call))
        else {
            return;
        };
        let aht = self
            .handle_times
            .get(&queue)
            .and_then(RecentHandleTimes::average);
        let ewt = estimated_wait(ahead, aht, self.router.agents_serving(&queue));
        let minutes = ewt.map(announced_minutes);
        let lang = session.ivr_vars.get("lang").map_or("en", String::as_str);
        let playlist = playlist(lang, ahead + 1, minutes);
        session.mark(
            now,
            "announced",
            json!({ "position": ahead + 1, "ewt_minutes": minutes }),
        );
        let node = session.node.clone();
        let args = format!("{call} {playlist} aleg");
        let command = Command::Api {
            channel: Some(call),
            command: "uuid_broadcast",
            args,
        };
        self.send(&node, command, None);
    }
}

/// `kefu/<lang>/position.wav`, the number, `kefu/<lang>/in_line.wav`, then (when known)
/// `kefu/<lang>/estimated_wait.wav`, the minutes, `kefu/<lang>/minutes.wav`.
fn playlist(lang: &str, position: usize, minutes: Option<u64>) -> String {
    let mut files = vec![format!("kefu/{lang}/position.wav")];
    files.extend(number_files(position as u64));
    files.push(format!("kefu/{lang}/in_line.wav"));
    if let Some(minutes) = minutes {
        files.push(format!("kefu/{lang}/estimated_wait.wav"));
        files.extend(number_files(minutes));
        files.push(format!("kefu/{lang}/minutes.wav"));
    }
    format!("file_string://{}", files.join("!"))
}

/// A number as FreeSWITCH's standard `digits/` recordings say it (the files mod_say uses:
/// 0–19, the tens, `hundred`, `thousand`), in the channel's sound set.
fn number_files(n: u64) -> Vec<String> {
    let digit = |d: u64| format!("digits/{d}.wav");
    match n {
        0..=19 => vec![digit(n)],
        20..=99 => {
            let mut files = vec![digit(n / 10 * 10)];
            if n % 10 > 0 {
                files.push(digit(n % 10));
            }
            files
        }
        100..=999 => {
            let mut files = vec![digit(n / 100), "digits/hundred.wav".to_owned()];
            if n % 100 > 0 {
                files.extend(number_files(n % 100));
            }
            files
        }
        _ => {
            let mut files = number_files(n / 1000);
            files.push("digits/thousand.wav".to_owned());
            if n % 1000 > 0 {
                files.extend(number_files(n % 1000));
            }
            files
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_said_with_the_standard_digit_files() {
        let said = |n| number_files(n).join(" ");
        assert_eq!(said(7), "digits/7.wav");
        assert_eq!(said(13), "digits/13.wav");
        assert_eq!(said(40), "digits/40.wav");
        assert_eq!(said(42), "digits/40.wav digits/2.wav");
        assert_eq!(said(305), "digits/3.wav digits/hundred.wav digits/5.wav");
        assert_eq!(said(2019), "digits/2.wav digits/thousand.wav digits/19.wav");
    }

    #[test]
    fn the_wait_is_announced_only_when_known() {
        assert_eq!(
            playlist("en", 3, None),
            "file_string://kefu/en/position.wav!digits/3.wav!kefu/en/in_line.wav"
        );
        assert_eq!(
            playlist("zh", 1, Some(2)),
            "file_string://kefu/zh/position.wav!digits/1.wav!kefu/zh/in_line.wav\
             !kefu/zh/estimated_wait.wav!digits/2.wav!kefu/zh/minutes.wav"
        );
    }
}
