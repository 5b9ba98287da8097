//! Timers and page events: the proactive refresh, the 1 s wall-clock backstop, visibility,
//! `online`, and the cross-tab channel's lifetime.

use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::tabs::{close_channel, open_channel, watch_page, OnMessage};
use super::{now, Client};
use crate::core::session::Plan;
use crate::js::global::{spawn, Timer};

/// Timers, listeners and the channel: dropping this stops them all.
#[derive(Default)]
pub(super) struct Background {
    /// The armed timer and the moment it is for.
    pub(super) due: Option<(f64, Timer)>,
    /// Stops the 1 s check and the page listeners (platform.js), which call `on_page`.
    pub(super) stop_page: Option<js_sys::Function>,
    pub(super) on_page: Option<Closure<dyn FnMut(bool)>>,
    pub(super) channel: Option<JsValue>,
    pub(super) on_message: Option<OnMessage>,
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop_page {
            let _ = stop.call0(&JsValue::UNDEFINED);
        }
        if let Some(channel) = &self.channel {
            let _ = close_channel(channel);
        }
    }
}

impl Client {
    pub(super) fn start_background(client: &Rc<Self>, cross_tab: bool) {
        let mut bg = client.background.borrow_mut();
        let weak = Rc::downgrade(client);
        // `online`: the network is back, so a cooldown ends early.
        let on_page = Closure::<dyn FnMut(bool)>::new(move |online: bool| {
            if let Some(client) = weak.upgrade() {
                if online {
                    client.state.borrow_mut().end_cooldown();
                }
                Client::tick(&client);
            }
        });
        // A wall-clock check every second survives sleep and throttled background tabs,
        // where one long setTimeout fires late; so do visibilitychange and pageshow.
        bg.stop_page = watch_page(&on_page).ok();
        bg.on_page = Some(on_page);
        if cross_tab {
            let weak = Rc::downgrade(client);
            let on_message = OnMessage::new(move |kind: JsValue, from: f64, data: JsValue, at: JsValue| {
                if let Some(client) = weak.upgrade() {
                    Client::on_message(&client, kind, from, data, at.as_f64());
                }
            });
            let channel = open_channel(&["ida-refresh:", client.store.key()].concat(), &on_message);
            if !channel.is_undefined() {
                bg.channel = Some(channel);
                bg.on_message = Some(on_message);
            }
        }
    }

    /// Timers and events land here: refresh when due, end a refused session once its access
    /// token expires.
    pub(super) fn tick(client: &Rc<Self>) {
        if client.disposed.get() || client.loading.borrow().is_some() {
            return;
        }
        let plan = client.state.borrow().tick(now());
        match plan {
            Plan::Refresh => {
                Client::flight_in_background(client);
            }
            Plan::End => {
                let client = client.clone();
                spawn(async move { client.end_session("invalid_refresh_token").await });
            }
            // Timers may fire a little early by the wall clock: arm again.
            _ => Client::reschedule(client),
        }
    }

    /// Arms a timer for the exact moment the state is next due (the interval is the backstop).
    pub(super) fn reschedule(client: &Rc<Self>) {
        if client.disposed.get() {
            return;
        }
        let due = client.state.borrow().due_at_ms();
        let armed = client.background.borrow().due.as_ref().map(|(at, _)| *at);
        // The 1 s tick lands here too: a timer already armed for this moment stays.
        if due.is_some() && due == armed && due.is_some_and(|at| at > now()) {
            return;
        }
        let weak = Rc::downgrade(client);
        let timer = due.map(|at| {
            // A few ms late rather than early: the wall clock and the timer clock differ.
            let timer = Timer::start((at - now()).max(0.0) + 5.0, move || {
                if let Some(client) = weak.upgrade() {
                    Client::tick(&client);
                }
            });
            timer.unref();
            (at, timer)
        });
        client.background.borrow_mut().due = timer;
    }
}
