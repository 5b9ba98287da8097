//! The cross-tab adapter: BroadcastChannel messages and the claim protocol.

use std::rc::Rc;

use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::{now, Client, CLAIM_MS, PEER_WAIT_MS};
use crate::core::session::Session;
use crate::js::global::{sleep, spawn, Timer};

impl Client {
    // ---- cross-tab ------------------------------------------------------------------------

    pub(super) fn broadcast(&self, kind: &str, record: Option<&str>) {
        let bg = self.background.borrow();
        let Some(channel) = &bg.channel else { return };
        let message = Object::new();
        let _ = Reflect::set(&message, &"type".into(), &kind.into());
        let _ = Reflect::set(&message, &"from".into(), &self.tab_id.into());
        if let Some(r) = record {
            let _ = Reflect::set(&message, &"record".into(), &r.into());
        }
        let _ = channel.post_message(&message);
    }

    pub(super) fn announce_refreshing(&self) {
        self.broadcast("refreshing", None);
    }

    /// Announces a refresh and listens for a competing one; true when this tab goes ahead. A
    /// tab that announced first wins; simultaneous announcements go to the lower tab id.
    pub(super) async fn claim(&self) -> bool {
        if self.peer_busy_until.get() > now() {
            return false;
        }
        self.claim_lost.set(false);
        self.announce_refreshing();
        sleep(CLAIM_MS).await;
        !self.claim_lost.get()
    }

    pub(super) fn on_message(client: &Rc<Self>, data: JsValue) {
        if !data.is_object() {
            return;
        }
        let field = |k: &str| Reflect::get(&data, &k.into()).unwrap_or(JsValue::UNDEFINED);
        if client.disposed.get() || field("from").as_f64() == Some(client.tab_id) {
            return;
        }
        client.peers_seen.set(true);
        let from = field("from").as_f64().unwrap_or(f64::INFINITY);
        match field("type").as_string().as_deref() {
            Some("hello") => client.broadcast("here", None),
            Some("refreshing") => {
                client.peer_busy_until.set(now() + PEER_WAIT_MS);
                if from < client.tab_id {
                    client.claim_lost.set(true);
                }
            }
            Some("session") => {
                client.peer_busy_until.set(0.0);
                let Some(Ok(session)) = field("record").as_string().map(|r| Session::from_record(&r)) else { return };
                if client.state.borrow_mut().adopt(session) {
                    client.session_changed();
                    let me = client.clone();
                    // sessionStorage is per tab: keep our own copy current.
                    spawn(async move { me.persist().await });
                    Client::reschedule(client);
                    client.emit("refreshed", client.session_js.borrow().clone());
                }
                client.wake_peer_waiters();
            }
            Some("signedOut") => {
                client.peer_busy_until.set(0.0);
                client.wake_peer_waiters();
                let me = client.clone();
                spawn(async move { me.end_session("otherTab").await });
            }
            _ => {}
        }
    }

    /// If another tab announced a refresh, waits (at most a second) for its result instead of
    /// sending a second request with the same refresh token.
    pub(super) async fn wait_for_peer(&self) {
        let remaining = self.peer_busy_until.get() - now();
        if remaining <= 0.0 || self.background.borrow().channel.is_none() {
            return;
        }
        let mut resolve = None;
        let arrived = Promise::new(&mut |r, _| resolve = Some(r));
        if let Some(r) = resolve {
            self.peer_arrived.borrow_mut().push(r);
        }
        let timer = Timer::start(remaining.min(PEER_WAIT_MS), || ());
        let _ = JsFuture::from(Promise::race(&Array::of2(&arrived, timer.promise()))).await;
    }

    pub(super) fn wake_peer_waiters(&self) {
        for resolve in self.peer_arrived.take() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }

}
