//! The `callback_offer` node's fields: `next` names a `queue` node, `wait_above` is a
//! duration, a typed number has 3 to 15 digits, and the five prompts have defaults
//! (`docs/ivr-flows.md`).

use std::time::Duration;

use toml::Spanned;

use super::{Checker, RawNode, Resolver};
use crate::ivr::flow::{CallbackOffer, Node, NodeIx, Prompt};

/// "Press 1 to be called back on the number you are calling from, 2 to give another number;
/// stay on the line to keep your place."
const OFFER_PROMPT: &str = "kefu/callback_offer.wav";
/// "Type the number, then #."
const NUMBER_PROMPT: &str = "kefu/callback_number.wav";
/// "We will call you back on" (the number's digits follow).
const CONFIRM_PROMPT: &str = "kefu/callback_confirm.wav";
/// "Press 1 if that is right, 2 to give another number."
const CONFIRM_KEYS_PROMPT: &str = "kefu/callback_confirm_keys.wav";
/// "Thank you, we will call you when it is your turn."
const GOODBYE_PROMPT: &str = "kefu/callback_goodbye.wav";

/// Digits of a typed number unless the node says otherwise. `CallbackNumber` takes 3 to 15
/// (E.164's longest); 6 keeps slips such as a lone extension out by default.
const DEFAULT_MIN: u32 = 6;
const DEFAULT_MAX: u32 = 15;
const SHORTEST: u32 = 3;
const LONGEST: u32 = 15;

impl Resolver<'_> {
    /// A `callback_offer` node, or `None` after reporting what is wrong.
    pub(super) fn callback_offer(&self, raw: &RawNode, check: &mut Checker) -> Option<Node> {
        let next = self.queue_node(raw, check);
        let wait_above = wait_above(raw, check);
        let (min, max) = (
            raw.min.as_ref().map_or(DEFAULT_MIN, |m| *m.get_ref()),
            raw.max.as_ref().map_or(DEFAULT_MAX, |m| *m.get_ref()),
        );
        if !(SHORTEST <= min && min <= max && max <= LONGEST) {
            let span =
                (raw.min.as_ref().or(raw.max.as_ref())).map_or(raw.kind.span(), Spanned::span);
            check.error(
                span,
                format!("needs {SHORTEST} <= min <= max <= {LONGEST} (digits of a phone number)"),
            );
        }
        let offer_prompt = match &raw.prompt {
            Some(_) => self.one_prompt(raw, check),
            None => Some(Prompt::given(OFFER_PROMPT)),
        };
        let number_prompt = self.prompt_or(&raw.number_prompt, NUMBER_PROMPT, check);
        // Both go into one file_string:// playlist with the number's digits.
        let confirm_prompt =
            self.sound_or(&raw.confirm_prompt, "confirm_prompt", CONFIRM_PROMPT, check);
        let confirm_keys = self.sound_or(
            &raw.confirm_keys_prompt,
            "confirm_keys_prompt",
            CONFIRM_KEYS_PROMPT,
            check,
        );
        let goodbye = self.prompt_or(&raw.goodbye_prompt, GOODBYE_PROMPT, check);
        let settings = self.digit_settings(raw, check);
        let key = || "[12]".to_owned();
        Some(Node::CallbackOffer(Box::new(CallbackOffer {
            next: next?,
            wait_above: wait_above?,
            offer: settings.input(offer_prompt?, 1, 1, key()),
            // Digits only, whatever the length: FreeSWITCH counts them against min and max.
            number: settings.input(number_prompt, min, max, "\\d+".to_owned()),
            confirm: settings.input(confirm_prompt, 1, 1, key()),
            confirm_keys,
            goodbye,
        })))
    }

    /// `next`, which must name a `queue` node: the call back takes that queue's place.
    fn queue_node(&self, raw: &RawNode, check: &mut Checker) -> Option<NodeIx> {
        let ix = self.required(&raw.next, "next", raw, check)?;
        let name = raw.next.as_ref()?;
        match self.kinds.get(name.get_ref().as_str()).copied() {
            Some("queue") => Some(ix),
            kind => {
                check.error(
                    name.span(),
                    format!(
                        "`next` of a `callback_offer` is a `queue` node; `{}` is a `{}` node",
                        name.get_ref(),
                        kind.unwrap_or_default()
                    ),
                );
                None
            }
        }
    }

    /// One optional prompt field, checked like every prompt, or its default.
    fn prompt_or(
        &self,
        field: &Option<Spanned<String>>,
        default: &str,
        check: &mut Checker,
    ) -> Prompt {
        match field {
            Some(prompt) => self.prompt(prompt.get_ref(), prompt.span(), check),
            None => Prompt::given(default),
        }
    }
}

/// The required `wait_above`.
fn wait_above(raw: &RawNode, check: &mut Checker) -> Option<Duration> {
    let Some(text) = &raw.wait_above else {
        check.error(
            raw.kind.span(),
            "a `callback_offer` node needs `wait_above` (e.g. \"3m\")",
        );
        return None;
    };
    match humantime_serde::re::humantime::parse_duration(text.get_ref()) {
        Ok(wait) => Some(wait),
        Err(_) => {
            let message = format!("`{}`: a duration (e.g. \"3m\")", text.get_ref());
            check.error(text.span(), message);
            None
        }
    }
}
