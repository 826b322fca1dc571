//! [`SmtpSink`]: a real SMTP server on 127.0.0.1, in-process, that records what it accepts and
//! answers what a test scripts (bounces, deferrals, rate limits, login checks).
//!
//! The SMTP dialogue is `mailin`'s session state machine (the protocol engine under
//! `mailin-embedded`); this file only drives it from tokio. Not `mailin-embedded` itself: its
//! `serve()` never returns and cannot be stopped, so each test would leak its listening port and
//! threads, and its fixed thread pool is also the most sessions it serves at once (a connection
//! beyond that is accepted and then left silent), which a concurrency bench runs straight into.
//!
//! The sink runs on its own thread and single-threaded runtime, so it works the same under
//! `#[tokio::test]`, a multi-threaded runtime or plain `#[test]`, and stops when dropped.
//!
//! Prompt ACKs: after every read the sink sets `TCP_QUICKACK`, so the kernel acknowledges at once
//! instead of up to 40 ms later. lettre writes a message's final `.` separately and, without
//! `TCP_NODELAY`, Nagle holds it until that ACK arrives; real servers delay it, which caps one
//! lettre connection at ~23 msg/s. Benches against the sink therefore measure our CPU, not that
//! timer; [`SinkOptions::prompt_acks`] off shows the real-server behaviour.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use mailin::{AuthMechanism, Handler, Response, SessionBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// One accepted message, as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The `MAIL FROM` address (the bounce address), not the From header.
    pub envelope_from: String,
    /// The `RCPT TO` addresses that were accepted.
    pub recipients: Vec<String>,
    /// The message exactly as transferred, dot-unstuffed, CRLF line ends. Empty when the sink was
    /// started with `keep_data: false`.
    pub data: Vec<u8>,
}

/// How the sink behaves beyond its scripted replies.
#[derive(Debug, Clone, Copy)]
pub struct SinkOptions {
    /// Keep every message's bytes. Benches pushing tens of thousands of messages turn it off and
    /// keep only the envelopes.
    pub keep_data: bool,
    /// ACK every read at once (see the module doc). On by default.
    pub prompt_acks: bool,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            keep_data: true,
            prompt_acks: true,
        }
    }
}

/// The scripted behaviour, read by every session as it goes, so a test can change it mid-run.
#[derive(Default)]
struct Script {
    /// Lowercased address → (code, text) answered to its RCPT TO.
    rejected: HashMap<String, (u16, String)>,
    /// Answer 421 to every n-th message (counted over all connections).
    rate_limit_every: Option<u64>,
    /// Required login; others get 535.
    auth: Option<(String, String)>,
    /// The next this-many messages get this code at the end of DATA.
    fail_next: Option<(u32, u16)>,
}

struct Shared {
    script: Mutex<Script>,
    messages: Mutex<Vec<ReceivedMessage>>,
    /// Accepted message count; `wait_for` watches it.
    accepted: watch::Sender<usize>,
    /// Every message that reached the end of DATA, accepted or not (drives `rate_limit_every`).
    completed: AtomicU64,
    /// Sessions open now, the most open at once, and all ever opened: how a test sees that a
    /// client pools and caps its connections.
    open_sessions: AtomicUsize,
    peak_sessions: AtomicUsize,
    total_sessions: AtomicUsize,
    options: SinkOptions,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An SMTP server for tests on 127.0.0.1 and a free port. Dropping it closes the port and ends
/// every session.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// Starts a sink that accepts everything and keeps every message.
    pub fn start() -> SmtpSink {
        Self::start_with(SinkOptions::default())
    }

    /// Starts a sink with the given options.
    ///
    /// # Panics
    /// When no loopback port can be bound or no thread started: the test cannot run then.
    pub fn start_with(options: SinkOptions) -> SmtpSink {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for the SMTP sink");
        let addr = listener.local_addr().expect("SMTP sink local address");
        listener
            .set_nonblocking(true)
            .expect("non-blocking SMTP sink listener");
        let shared = Arc::new(Shared {
            script: Mutex::new(Script::default()),
            messages: Mutex::new(Vec::new()),
            accepted: watch::Sender::new(0),
            completed: AtomicU64::new(0),
            open_sessions: AtomicUsize::new(0),
            peak_sessions: AtomicUsize::new(0),
            total_sessions: AtomicUsize::new(0),
            options,
        });
        let (stop, stopped) = oneshot::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("smtp-sink".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        eprintln!("SMTP sink: no runtime: {e}");
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("SMTP sink: cannot listen: {e}");
                            return;
                        }
                    };
                    tokio::select! {
                        _ = stopped => {}
                        _ = accept_loop(listener, thread_shared) => {}
                    }
                });
                // Dropping the runtime here ends every session task mid-dialogue.
            })
            .expect("start the SMTP sink thread");
        SmtpSink {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `smtp://127.0.0.1:port`, for provider settings (use TLS mode `none`).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every accepted message so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        lock(&self.shared.messages).clone()
    }

    /// How many messages were accepted.
    pub fn count(&self) -> usize {
        *self.shared.accepted.borrow()
    }

    /// Waits until at least `n` messages were accepted or `timeout` passes; returns whether they
    /// were.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let mut seen = self.shared.accepted.subscribe();
        tokio::time::timeout(timeout, seen.wait_for(|count| *count >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The most SMTP connections that were open at the same time.
    pub fn peak_connections(&self) -> usize {
        self.shared.peak_sessions.load(Ordering::Relaxed)
    }

    /// How many SMTP connections were opened in all.
    pub fn total_connections(&self) -> usize {
        self.shared.total_sessions.load(Ordering::Relaxed)
    }

    /// Answers `RCPT TO:<email>` with `code text` (e.g. 550 for a hard bounce, 451 to defer).
    pub fn reject_recipient(&self, email: &str, code: u16, text: &str) {
        lock(&self.shared.script)
            .rejected
            .insert(email.trim().to_ascii_lowercase(), (code, text.to_owned()));
    }

    /// Answers `421 4.7.0 Too many messages, try again later` (and closes the connection) to
    /// every `n`-th message, counting every message that reaches the end of DATA.
    pub fn rate_limit_every(&self, n: u64) {
        lock(&self.shared.script).rate_limit_every = (n > 0).then_some(n);
    }

    /// Requires AUTH PLAIN or LOGIN with this user and password from new connections; a wrong
    /// login gets `535 Invalid credentials`, MAIL without a login `530 5.7.0`.
    pub fn require_auth(&self, user: &str, password: &str) {
        lock(&self.shared.script).auth = Some((user.to_owned(), password.to_owned()));
    }

    /// Answers the next `n` messages with `code` at the end of DATA instead of accepting them.
    pub fn fail_next(&self, n: u32, code: u16) {
        lock(&self.shared.script).fail_next = (n > 0).then_some((n, code));
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    shared.total_sessions.fetch_add(1, Ordering::Relaxed);
                    let open = shared.open_sessions.fetch_add(1, Ordering::Relaxed) + 1;
                    shared.peak_sessions.fetch_max(open, Ordering::Relaxed);
                    serve_session(stream, peer.ip(), Arc::clone(&shared)).await;
                    shared.open_sessions.fetch_sub(1, Ordering::Relaxed);
                });
            }
            // Out of file descriptors and the like: back off rather than spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Longest line we buffer before giving up on a client (RFC 5321 allows 1000 bytes).
const MAX_LINE: usize = 64 * 1024;
/// A silent client is dropped after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

async fn serve_session(mut stream: TcpStream, peer: IpAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let mut builder = SessionBuilder::new("sink.vestnik.test");
    if lock(&shared.script).auth.is_some() {
        builder
            .enable_auth(AuthMechanism::Plain)
            .enable_auth(AuthMechanism::Login)
            // Tests talk plain SMTP on loopback; a real server would demand STARTTLS first.
            .insecure_enable_plaintext_auth();
    }
    let logged_in = Arc::new(AtomicBool::new(false));
    let handler = SessionHandler {
        shared: Arc::clone(&shared),
        logged_in: Arc::clone(&logged_in),
        from: String::new(),
        recipients: Vec::new(),
        data: Vec::new(),
    };
    let mut session = builder.build(peer, handler);
    let mut out = Vec::with_capacity(256);
    if write_response(&mut stream, &mut out, &session.greeting())
        .await
        .is_err()
    {
        return;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut start = 0;
    loop {
        // Answer every complete line already buffered.
        while let Some(len) = memchr::memchr(b'\n', &buf[start..]) {
            let line = &buf[start..start + len + 1];
            start += len + 1;
            // mailin answers MAIL before a required login with 503; real servers say 530.
            let response = if needs_login(&shared, &logged_in, line) {
                Response::custom(530, "5.7.0 Authentication required".to_owned())
            } else {
                session.process(line)
            };
            match response.action {
                mailin::Action::NoReply => {}
                mailin::Action::Reply => {
                    if write_response(&mut stream, &mut out, &response)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                // We offer no STARTTLS, so an upgrade request is a client bug: end the session.
                mailin::Action::Close | mailin::Action::UpgradeTls => {
                    let _ = write_response(&mut stream, &mut out, &response).await;
                    let _ = stream.shutdown().await;
                    return;
                }
            }
        }
        buf.drain(..start);
        start = 0;
        if buf.len() > MAX_LINE {
            return;
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        match tokio::time::timeout(IDLE_TIMEOUT, stream.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(_)) => {
                if shared.options.prompt_acks {
                    quick_ack(&stream);
                }
            }
        }
    }
}

fn needs_login(shared: &Shared, logged_in: &AtomicBool, line: &[u8]) -> bool {
    line.len() >= 5
        && line[..5].eq_ignore_ascii_case(b"MAIL ")
        && !logged_in.load(Ordering::Relaxed)
        && lock(&shared.script).auth.is_some()
}

#[cfg(target_os = "linux")]
fn quick_ack(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn quick_ack(_stream: &TcpStream) {}

async fn write_response(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    response: &Response,
) -> io::Result<()> {
    out.clear();
    response.write_to(out)?;
    stream.write_all(out).await
}

/// One session's view: the transaction being received, and the shared script and log.
struct SessionHandler {
    shared: Arc<Shared>,
    /// Set on a successful AUTH; the session loop reads it to answer MAIL before login.
    logged_in: Arc<AtomicBool>,
    from: String,
    recipients: Vec<String>,
    data: Vec<u8>,
}

impl SessionHandler {
    fn scripted_end_of_data(&self) -> Option<Response> {
        let n = self.shared.completed.fetch_add(1, Ordering::Relaxed) + 1;
        let mut script = lock(&self.shared.script);
        if let Some((left, code)) = script.fail_next {
            script.fail_next = (left > 1).then_some((left - 1, code));
            let text = match code {
                421 => "4.7.0 Too many messages, try again later",
                400..=499 => "4.3.0 Temporary failure, try again later (scripted)",
                _ => "5.7.1 Message rejected (scripted)",
            };
            return Some(closing(Response::custom(code, text.to_owned())));
        }
        if script
            .rate_limit_every
            .is_some_and(|every| n.is_multiple_of(every))
        {
            return Some(closing(Response::custom(
                421,
                "4.7.0 Too many messages, try again later".to_owned(),
            )));
        }
        None
    }
}

/// A refusal at the end of DATA also ends the session. mailin stays in its DATA state after a
/// negative reply there and would read the client's next commands as message text; lettre drops
/// the connection after any negative reply anyway.
fn closing(mut response: Response) -> Response {
    response.action = mailin::Action::Close;
    response
}

impl Handler for SessionHandler {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        self.from.clear();
        self.from.push_str(from);
        self.recipients.clear();
        self.data.clear();
        mailin::response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let rejected = lock(&self.shared.script)
            .rejected
            .get(&to.trim().to_ascii_lowercase())
            .cloned();
        match rejected {
            Some((code, text)) => Response::custom(code, text),
            None => {
                self.recipients.push(to.to_owned());
                mailin::response::OK
            }
        }
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.shared.options.keep_data {
            self.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some(response) = self.scripted_end_of_data() {
            self.data.clear();
            return response;
        }
        let message = ReceivedMessage {
            envelope_from: std::mem::take(&mut self.from),
            recipients: std::mem::take(&mut self.recipients),
            data: std::mem::take(&mut self.data),
        };
        let queued = {
            let mut messages = lock(&self.shared.messages);
            messages.push(message);
            messages.len()
        };
        self.shared.accepted.send_modify(|count| *count += 1);
        Response::custom(250, format!("2.0.0 Ok: queued as {queued}"))
    }

    fn auth_plain(
        &mut self,
        _authorization_id: &str,
        authentication_id: &str,
        password: &str,
    ) -> Response {
        self.check_login(authentication_id, password)
    }

    fn auth_login(&mut self, username: &str, password: &str) -> Response {
        self.check_login(username, password)
    }
}

impl SessionHandler {
    fn check_login(&self, user: &str, password: &str) -> Response {
        match &lock(&self.shared.script).auth {
            Some((u, p)) if u == user && p == password => {
                self.logged_in.store(true, Ordering::Relaxed);
                mailin::response::AUTH_OK
            }
            _ => mailin::response::INVALID_CREDENTIALS,
        }
    }
}
