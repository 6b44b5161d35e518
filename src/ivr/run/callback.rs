//! The questions of a `callback_offer` node: the offer, the number, the confirmation. Any
//! answer but the expected keys leaves the caller waiting in the queue of `next`: no caller
//! is lost by default. Each question is a step of the path (`docs/ivr-flows.md`).

use super::{IvrRun, cut};
use crate::domain::{CallbackNumber, Timestamp};
use crate::ivr::flow::{CallbackOffer, Node};
use crate::ivr::{AppResult, CallContext, Step};

/// Which question of a `callback_offer` node the caller is answering.
#[derive(Debug)]
pub(super) enum Question {
    /// "1: call me back on this number, 2: on another" (path: the node's name).
    Offer,
    /// The number to call back (path: `<node>:number`).
    Number,
    /// "We will call you back on <digits>; 1: right, 2: another" (path: `<node>:confirm`).
    Confirm(CallbackNumber),
}

impl IvrRun {
    /// On entering the node: the offer, or `None` (go on to `next`) while the queue's
    /// estimated wait is unknown or not above `wait_above`.
    pub(super) fn offer_callback(
        &mut self,
        offer: &CallbackOffer,
        ctx: &CallContext,
    ) -> Option<Step> {
        let Node::Queue { queue, .. } = &self.flow.nodes[offer.next] else {
            return None; // the validator made `next` a queue node
        };
        let long = ctx
            .queues
            .estimated_wait(queue)
            .is_some_and(|wait| wait > offer.wait_above);
        if !long {
            return None;
        }
        self.callback = Some(Question::Offer);
        Some(self.digits_step(self.digits_arg(&offer.offer)))
    }

    /// The caller answered (or did not answer) the current question.
    pub(super) fn on_callback_answer(
        &mut self,
        offer: &CallbackOffer,
        result: AppResult,
        ctx: &CallContext,
        now: Timestamp,
    ) -> Step {
        // Nothing asked: the call back was already confirmed, or a stale report.
        let Some(question) = self.callback.take() else {
            return Step::Wait;
        };
        self.note_digits(&result);
        let keys = match &result {
            AppResult::Digits(d) => d.as_str(),
            AppResult::Done | AppResult::NoInput => "",
        };
        match (question, keys) {
            (Question::Offer, "1") => match CallbackNumber::parse(ctx.caller_number) {
                Some(number) => self.ask_confirm(offer, number, now),
                None => self.ask_number(offer, now), // anonymous, or not a number to dial
            },
            (Question::Offer | Question::Confirm(_), "2") => self.ask_number(offer, now),
            (Question::Number, typed) => match typed_number(offer, typed) {
                Some(number) => self.ask_confirm(offer, number, now),
                None => self.enter(offer.next, ctx, now),
            },
            (Question::Confirm(number), "1") => self.callback_step(offer, number, ctx, now),
            (Question::Offer | Question::Confirm(_), _) => self.enter(offer.next, ctx, now),
        }
    }

    fn ask_number(&mut self, offer: &CallbackOffer, now: Timestamp) -> Step {
        let arg = self.digits_arg(&offer.number);
        self.ask(Question::Number, "number", arg, now)
    }

    /// One playlist: the confirm prompt, the number digit by digit (the channel's `digits/`
    /// recordings; a leading `+` is not read), the keys to press.
    fn ask_confirm(
        &mut self,
        offer: &CallbackOffer,
        number: CallbackNumber,
        now: Timestamp,
    ) -> Step {
        let mut files = vec![self.resolve(&offer.confirm.prompt)];
        files.extend(
            number
                .as_str()
                .chars()
                .filter(char::is_ascii_digit)
                .map(|d| format!("digits/{d}.wav")),
        );
        files.push(self.resolve(&offer.confirm_keys));
        let prompt = format!("file_string://{}", files.join("!"));
        let arg = self.digits_arg_playing(&offer.confirm, &prompt);
        self.ask(Question::Confirm(number), "confirm", arg, now)
    }

    /// A question after the offer: a step of its own in the path, counted like a node.
    fn ask(&mut self, question: Question, label: &str, arg: String, now: Timestamp) -> Step {
        let node = format!("{}:{label}", self.flow.names[self.at]);
        if !self.record(node, now) {
            return cut();
        }
        self.callback = Some(question);
        self.digits_step(arg)
    }

    fn digits_step(&self, arg: String) -> Step {
        Step::Execute {
            app: "play_and_get_digits".into(),
            arg,
        }
    }

    /// Confirmed: the call back takes the queue node's queue, bonus, skills and reason.
    fn callback_step(
        &mut self,
        offer: &CallbackOffer,
        number: CallbackNumber,
        ctx: &CallContext,
        now: Timestamp,
    ) -> Step {
        let flow = self.flow.clone();
        let Node::Queue {
            queue,
            priority_bonus,
            skills,
            reason,
        } = &flow.nodes[offer.next]
        else {
            return self.enter(offer.next, ctx, now); // the validator made `next` a queue node
        };
        Step::Callback {
            queue: queue.clone(),
            priority_bonus: *priority_bonus,
            extra_skills: skills.clone(),
            reason: reason.clone(),
            number,
            goodbye: self.resolve(&offer.goodbye),
        }
    }
}

/// A typed number, checked again on arrival: digits only, as many as the node takes.
fn typed_number(offer: &CallbackOffer, typed: &str) -> Option<CallbackNumber> {
    let (min, max) = (offer.number.min, offer.number.max);
    let fits = typed.bytes().all(|b| b.is_ascii_digit())
        && u32::try_from(typed.len()).is_ok_and(|n| (min..=max).contains(&n));
    fits.then(|| CallbackNumber::parse(typed)).flatten()
}
