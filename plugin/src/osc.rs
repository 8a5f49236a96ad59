//! The optional OSC server (docs/ARCHITECTURE.md §8.3): a UDP thread that
//! hands (address hash, value) pairs to the audio thread and sends mapped
//! values back to the last sender.
//!
//! Three pieces:
//! - [`link`] makes the two queues of one activation: [`OscAudio`] for the
//!   audio thread, [`OscPorts`] for the server thread (handed over through
//!   [`OscShared::set_ports`]).
//! - [`OscShared`] is what the server, the plugin and the editor share:
//!   counters, the last address seen (learn), the session's mapped addresses
//!   (to name feedback), the ports and the server's status.
//! - [`OscServer`] owns the socket and the thread; dropping it stops both.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use mam_core::mapping::osc_hash;
use rosc::{OscMessage, OscPacket, OscType};
use rtrb::{Consumer, Producer, RingBuffer};

/// Slots in each queue (server → audio, audio → server). At a 5 ms server
/// wake-up and a few-ms audio block this is far more than a controller sends
/// between two drains.
pub const QUEUE_CAPACITY: usize = 1024;

/// The largest packet the server reads; larger ones are dropped (counted in
/// [`OscStats::oversized`]). A fader bank's bundle is a few hundred bytes.
pub const MAX_PACKET_BYTES: usize = 8192;

/// The receive buffer: the largest UDP payload there is, so a packet over
/// [`MAX_PACKET_BYTES`] arrives whole and is seen to be too big instead of
/// being cut to a size that looks fine.
const RECV_BUFFER_BYTES: usize = 65_536;

/// How long one receive waits: the longest feedback waits to be sent and the
/// longest [`OscServer`]'s drop waits for the thread.
const RECV_TIMEOUT: Duration = Duration::from_millis(5);

/// Makes the queues of one activation: the audio thread's end and the server's.
pub fn link() -> (OscAudio, OscPorts) {
    let (to_audio, from_server) = RingBuffer::new(QUEUE_CAPACITY);
    let (to_server, from_audio) = RingBuffer::new(QUEUE_CAPACITY);
    let feedback_full = Arc::new(AtomicU64::new(0));
    let audio = OscAudio { from_server, to_server, feedback_full: Arc::clone(&feedback_full) };
    (audio, OscPorts { to_audio, from_audio, feedback_full })
}

/// The audio thread's end of the OSC queues. Dropping it frees the queues
/// if the [`OscPorts`] went first: drop it off the audio thread.
pub struct OscAudio {
    from_server: Consumer<(u64, f32)>,
    to_server: Producer<(u64, f32)>,
    feedback_full: Arc<AtomicU64>,
}

impl OscAudio {
    /// Calls `f(hash, value)` for each message waiting, oldest first. Takes
    /// only what was waiting on entry, so a busy sender cannot hold the
    /// audio thread here.
    ///
    /// Runs on the audio thread: no allocation, no locks.
    pub fn drain(&mut self, f: &mut dyn FnMut(u64, f32)) {
        self.drain_up_to(usize::MAX, f);
    }

    /// [`Self::drain`], taking at most `max` messages (the rest wait for the
    /// next call): what one audio block spends on a flood is bounded.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn drain_up_to(&mut self, max: usize, f: &mut dyn FnMut(u64, f32)) {
        for _ in 0..self.from_server.slots().min(max) {
            match self.from_server.pop() {
                Ok((hash, value)) => f(hash, value),
                Err(_) => break,
            }
        }
    }

    /// Queues a mapped value to be sent back (`hash` = [`osc_hash`] of its
    /// address). Returns `false` when the queue is full: the value is
    /// dropped and counted ([`OscStats::feedback_full`]); a fader that moves
    /// on sends again.
    ///
    /// Runs on the audio thread: no allocation, no locks.
    pub fn send(&mut self, hash: u64, value: f32) -> bool {
        let sent = self.to_server.push((hash, value)).is_ok();
        if !sent {
            self.feedback_full.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }
}

/// The server thread's end of the OSC queues.
pub struct OscPorts {
    to_audio: Producer<(u64, f32)>,
    from_audio: Consumer<(u64, f32)>,
    feedback_full: Arc<AtomicU64>,
}

/// What the server is doing, for the editor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OscStatus {
    /// No server running.
    #[default]
    Off,
    /// Listening on 127.0.0.1 at this UDP port.
    Listening(u16),
    /// The last start failed: the port and why ("Address already in use").
    Failed { port: u16, error: String },
}

/// The server's counters, as [`OscShared::stats`] reads them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OscStats {
    /// Packets (UDP datagrams) received, whatever became of them.
    pub received: u64,
    /// Messages whose value went into the audio queue.
    pub queued: u64,
    /// Packets that are not OSC (dropped).
    pub malformed: u64,
    /// Packets over [`MAX_PACKET_BYTES`] (dropped).
    pub oversized: u64,
    /// Messages dropped because the audio queue was full (or no plugin
    /// activation had handed in its ports yet).
    pub queue_full: u64,
    /// Messages without a numeric argument, or whose first one is not
    /// finite (NaN, ±inf, a double beyond f32): nothing to apply.
    pub no_numeric: u64,
    /// Feedback packets sent.
    pub feedback_sent: u64,
    /// Feedback values the audio thread dropped on a full queue, since the
    /// current ports were handed in.
    pub feedback_full: u64,
}

/// What the OSC server shares with the plugin and the editor. The audio
/// thread never touches it (it has [`OscAudio`]).
#[derive(Default)]
pub struct OscShared {
    received: AtomicU64,
    queued: AtomicU64,
    malformed: AtomicU64,
    oversized: AtomicU64,
    queue_full: AtomicU64,
    no_numeric: AtomicU64,
    feedback_sent: AtomicU64,
    /// Messages seen so far and the last one's address (for learn).
    last: Mutex<(u64, Option<String>)>,
    /// The session's mapped addresses by [`osc_hash`]: names feedback.
    addresses: Mutex<HashMap<u64, String>>,
    /// The current activation's queues; `None` while the plugin is inactive.
    ports: Mutex<Option<OscPorts>>,
    status: Mutex<OscStatus>,
}

impl OscShared {
    /// How many messages were seen so far, and the last one's address.
    pub fn last_seen(&self) -> (u64, Option<String>) {
        lock(&self.last).clone()
    }

    /// The counters so far.
    pub fn stats(&self) -> OscStats {
        let feedback_full = lock(&self.ports)
            .as_ref()
            .map_or(0, |ports| ports.feedback_full.load(Ordering::Relaxed));
        OscStats {
            received: self.received.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            oversized: self.oversized.load(Ordering::Relaxed),
            queue_full: self.queue_full.load(Ordering::Relaxed),
            no_numeric: self.no_numeric.load(Ordering::Relaxed),
            feedback_sent: self.feedback_sent.load(Ordering::Relaxed),
            feedback_full,
        }
    }

    /// What the server is doing (listening where, or why it could not).
    pub fn status(&self) -> OscStatus {
        lock(&self.status).clone()
    }

    /// The OSC addresses the session maps: feedback for an address hash
    /// is sent under the address that has it; other hashes are not sent.
    pub fn set_addresses(&self, addresses: Vec<String>) {
        let by_hash = addresses.into_iter().map(|a| (osc_hash(&a), a)).collect();
        *lock(&self.addresses) = by_hash;
    }

    /// Hands in an activation's queues (`None` at deactivation). Messages
    /// arriving without ports are counted in [`OscStats::queue_full`].
    pub fn set_ports(&self, ports: Option<OscPorts>) {
        *lock(&self.ports) = ports;
    }

    /// Reads one packet: counts it, remembers each message's address for
    /// learn and queues each message's value for the audio thread. Returns
    /// whether it was OSC. Never panics on any input.
    fn receive(&self, packet: &[u8]) -> bool {
        self.received.fetch_add(1, Ordering::Relaxed);
        if packet.len() > MAX_PACKET_BYTES {
            self.oversized.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let Ok((_, decoded)) = rosc::decoder::decode_udp(packet) else {
            self.malformed.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        let mut ports = lock(&self.ports);
        self.apply(&decoded, ports.as_mut());
        true
    }

    /// One packet's messages in order; a bundle's time tag is ignored (its
    /// messages apply at once).
    fn apply(&self, packet: &OscPacket, mut ports: Option<&mut OscPorts>) {
        match packet {
            OscPacket::Message(message) => self.apply_message(message, ports),
            OscPacket::Bundle(bundle) => {
                for inner in &bundle.content {
                    self.apply(inner, ports.as_deref_mut());
                }
            }
        }
    }

    fn apply_message(&self, message: &OscMessage, ports: Option<&mut OscPorts>) {
        {
            let mut last = lock(&self.last);
            last.0 += 1;
            let address = last.1.get_or_insert_with(String::new);
            address.clear();
            address.push_str(&message.addr);
        }
        let Some(value) = first_number(&message.args).filter(|v| v.is_finite()) else {
            self.no_numeric.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let queued = ports.is_some_and(|p| p.to_audio.push((osc_hash(&message.addr), value)).is_ok());
        let counter = if queued { &self.queued } else { &self.queue_full };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Sends the feedback the audio thread queued to `to` as `<address> ,f
    /// value`, skipping hashes no mapped address has. Every value is also
    /// kept in `latest`, so a new sender (`to_new`: an app that opened after
    /// the plugin, or moved) first gets the whole state, not only what
    /// changes afterwards. The queue is emptied with or without a sender.
    fn forward_feedback(&self, socket: &UdpSocket, to: Option<SocketAddr>, to_new: bool, pending: &mut Vec<(u64, f32)>, latest: &mut HashMap<u64, f32>) {
        pending.clear();
        if let Some(ports) = lock(&self.ports).as_mut() {
            while let Ok(item) = ports.from_audio.pop() {
                pending.push(item);
            }
        }
        for &(hash, value) in pending.iter() {
            latest.insert(hash, value);
        }
        let Some(to) = to else { return };
        if to_new {
            pending.clear();
            pending.extend(latest.iter().map(|(&h, &v)| (h, v)));
            pending.sort_by_key(|&(h, _)| h);
        }
        if pending.is_empty() {
            return;
        }
        let addresses = lock(&self.addresses);
        for &(hash, value) in pending.iter() {
            let Some(address) = addresses.get(&hash) else { continue };
            let packet = OscPacket::Message(OscMessage {
                addr: address.clone(),
                args: vec![OscType::Float(value)],
            });
            let Ok(bytes) = rosc::encoder::encode(&packet) else { continue };
            if socket.send_to(&bytes, to).is_ok() {
                self.feedback_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The first numeric argument: float, double, int, long, or a bool as 0/1.
fn first_number(args: &[OscType]) -> Option<f32> {
    args.iter().find_map(|arg| match *arg {
        OscType::Float(v) => Some(v),
        OscType::Double(v) => Some(v as f32),
        OscType::Int(v) => Some(v as f32),
        OscType::Long(v) => Some(v as f32),
        OscType::Bool(v) => Some(if v { 1.0 } else { 0.0 }),
        _ => None,
    })
}

/// A lock that survives a thread that panicked holding it (the data are
/// counters and names, still usable).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running server: a UDP socket on 127.0.0.1 and the thread reading it.
/// Dropping it stops the thread and frees the port.
pub struct OscServer {
    port: u16,
    shared: Arc<OscShared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl OscServer {
    /// Binds UDP 127.0.0.1:`port` (0 = any free port, see [`Self::port`])
    /// and starts the thread. Drop a running server before starting one on
    /// the same port.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound (taken by another program or plugin
    /// instance) or the thread cannot start; the status says so too.
    pub fn start(port: u16, shared: Arc<OscShared>) -> io::Result<OscServer> {
        match Self::spawn(port, &shared) {
            Ok((bound, stop, thread)) => {
                *lock(&shared.status) = OscStatus::Listening(bound);
                Ok(OscServer { port: bound, shared, stop, thread: Some(thread) })
            }
            Err(error) => {
                *lock(&shared.status) = OscStatus::Failed { port, error: error.to_string() };
                Err(error)
            }
        }
    }

    fn spawn(port: u16, shared: &Arc<OscShared>) -> io::Result<(u16, Arc<AtomicBool>, JoinHandle<()>)> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, port))?;
        socket.set_read_timeout(Some(RECV_TIMEOUT))?;
        let bound = socket.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::Builder::new().name(format!("mam-osc-{bound}")).spawn({
            let shared = Arc::clone(shared);
            let stop = Arc::clone(&stop);
            move || serve(&socket, &shared, &stop)
        })?;
        Ok((bound, stop, thread))
    }

    /// The UDP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for OscServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let mut status = lock(&self.shared.status);
        // A server started since on another port keeps its status.
        if *status == OscStatus::Listening(self.port) {
            *status = OscStatus::Off;
        }
    }
}

/// The server thread: receive (waking at least every [`RECV_TIMEOUT`]),
/// forward feedback, until `stop`.
fn serve(socket: &UdpSocket, shared: &OscShared, stop: &AtomicBool) {
    let mut buffer = vec![0u8; RECV_BUFFER_BYTES];
    let mut pending = Vec::with_capacity(QUEUE_CAPACITY);
    let mut last_sender = None;
    // The sender the state was last sent to in full, and every value's latest.
    let mut answered = None;
    let mut latest = HashMap::new();
    while !stop.load(Ordering::Acquire) {
        match socket.recv_from(&mut buffer) {
            Ok((len, from)) => {
                // Only a sender of OSC is answered.
                if shared.receive(&buffer[..len]) {
                    last_sender = Some(from);
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            // E.g. Windows reports an earlier send's ICMP "port unreachable"
            // here. Keep serving, without spinning on an error that stays.
            Err(_) => thread::sleep(RECV_TIMEOUT),
        }
        let to_new = last_sender != answered;
        answered = last_sender;
        shared.forward_feedback(socket, last_sender, to_new, &mut pending, &mut latest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rosc::{OscBundle, OscTime};
    use std::time::Instant;

    /// Long enough for a loopback datagram and a 5 ms wake-up on a loaded
    /// 2-core CI machine; a passing test returns as soon as data arrive.
    const WAIT: Duration = Duration::from_secs(5);

    struct Rig {
        server: OscServer,
        shared: Arc<OscShared>,
        audio: OscAudio,
        client: UdpSocket,
    }

    fn rig() -> Rig {
        let shared = Arc::new(OscShared::default());
        let (audio, ports) = link();
        shared.set_ports(Some(ports));
        let server = OscServer::start(0, Arc::clone(&shared)).expect("bind a free loopback port");
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        client.connect((Ipv4Addr::LOCALHOST, server.port())).unwrap();
        Rig { server, shared, audio, client }
    }

    fn message(addr: &str, args: Vec<OscType>) -> OscPacket {
        OscPacket::Message(OscMessage { addr: addr.to_string(), args })
    }

    fn bytes(packet: &OscPacket) -> Vec<u8> {
        rosc::encoder::encode(packet).unwrap()
    }

    impl Rig {
        fn send(&self, packet: &OscPacket) {
            self.client.send(&bytes(packet)).unwrap();
        }

        /// Drains until `count` values arrived (or [`WAIT`] passed).
        fn drain_until(&mut self, count: usize) -> Vec<(u64, f32)> {
            let mut got = Vec::new();
            let start = Instant::now();
            while got.len() < count && start.elapsed() < WAIT {
                self.audio.drain(&mut |hash, value| got.push((hash, value)));
                thread::sleep(Duration::from_millis(1));
            }
            got
        }

        /// Sends a sentinel message after what was sent before and waits
        /// for everything up to it: datagrams from one loopback socket
        /// arrive in order and the server reads them one by one, so when
        /// the sentinel is drained the packets before it were handled.
        /// Returns what was drained before the sentinel.
        fn settle(&mut self) -> Vec<(u64, f32)> {
            self.send(&message("/test/sentinel", vec![OscType::Float(-1.0)]));
            let sentinel = (osc_hash("/test/sentinel"), -1.0);
            let mut got = Vec::new();
            let start = Instant::now();
            while !got.contains(&sentinel) && start.elapsed() < WAIT {
                self.audio.drain(&mut |hash, value| got.push((hash, value)));
                thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(got.pop(), Some(sentinel), "the sentinel arrived last");
            got
        }
    }

    #[test]
    fn osc_float_message_reaches_the_audio_thread_by_address_hash() {
        let mut rig = rig();
        rig.send(&message("/mam/fader/1", vec![OscType::Float(0.25)]));
        assert_eq!(rig.drain_until(1), vec![(osc_hash("/mam/fader/1"), 0.25)]);
        let stats = rig.shared.stats();
        assert_eq!((stats.received, stats.queued), (1, 1));
        assert_eq!(rig.shared.last_seen(), (1, Some("/mam/fader/1".to_string())));
    }

    #[test]
    fn osc_int_and_first_numeric_after_a_string() {
        let mut rig = rig();
        rig.send(&message("/mam/fader/2", vec![OscType::Int(3)]));
        // The first numeric argument counts, after a label.
        rig.send(&message("/mam/fader/3", vec!["label".into(), OscType::Float(0.75), OscType::Float(0.1)]));
        let got = rig.settle();
        assert_eq!(got, vec![(osc_hash("/mam/fader/2"), 3.0), (osc_hash("/mam/fader/3"), 0.75)]);
    }

    #[test]
    fn osc_nested_bundle_unpacks_in_order_with_every_numeric_type() {
        let mut rig = rig();
        let time = OscTime { seconds: 0, fractional: 1 };
        let inner = OscPacket::Bundle(OscBundle {
            timetag: time,
            content: vec![
                message("/b/double", vec![OscType::Double(-0.5)]),
                message("/b/long", vec![OscType::Long(-7)]),
            ],
        });
        let outer = OscPacket::Bundle(OscBundle {
            timetag: time,
            content: vec![
                message("/b/int", vec![OscType::Int(42)]),
                inner,
                message("/b/true", vec![OscType::Bool(true)]),
                message("/b/false", vec![OscType::Bool(false)]),
            ],
        });
        rig.send(&outer);
        let expected: Vec<(u64, f32)> =
            [("/b/int", 42.0), ("/b/double", -0.5), ("/b/long", -7.0), ("/b/true", 1.0), ("/b/false", 0.0)]
                .iter()
                .map(|&(a, v)| (osc_hash(a), v))
                .collect();
        assert_eq!(rig.drain_until(5), expected);
        assert_eq!(rig.shared.stats().received, 1, "one datagram");
        assert_eq!(rig.shared.last_seen(), (5, Some("/b/false".to_string())));
    }

    #[test]
    fn osc_garbage_is_counted_malformed_and_queues_nothing() {
        let mut rig = rig();
        rig.client.send(b"\xff\x00garbage that is not OSC").unwrap();
        assert_eq!(rig.settle(), vec![]);
        let stats = rig.shared.stats();
        assert_eq!((stats.received, stats.malformed, stats.queued), (2, 1, 1));
        // Learn saw the sentinel only.
        assert_eq!(rig.shared.last_seen(), (1, Some("/test/sentinel".to_string())));
    }

    #[test]
    fn osc_oversized_packet_is_dropped_even_when_valid() {
        let mut rig = rig();
        // A valid message of exactly 10 000 bytes: a label string padded to
        // fill it, then a float that would be queued if it were read.
        // Layout: "/big\0\0\0\0" (8) + ",sf\0" (4) + string (len + NUL,
        // padded to 4) + float (4) = 16 + padded string = 10 000.
        let label = "x".repeat(10_000 - 16 - 4);
        let packet = message("/big", vec![OscType::String(label), OscType::Float(0.5)]);
        let encoded = bytes(&packet);
        assert_eq!(encoded.len(), 10_000);
        rig.client.send(&encoded).unwrap();
        assert_eq!(rig.settle(), vec![]);
        let stats = rig.shared.stats();
        assert_eq!((stats.oversized, stats.malformed, stats.queued), (1, 0, 1));
    }

    #[test]
    fn osc_largest_allowed_packet_is_read() {
        let mut rig = rig();
        let label = "x".repeat(MAX_PACKET_BYTES - 16 - 4);
        let encoded = bytes(&message("/big", vec![OscType::String(label), OscType::Float(0.5)]));
        assert_eq!(encoded.len(), MAX_PACKET_BYTES);
        rig.client.send(&encoded).unwrap();
        assert_eq!(rig.settle(), vec![(osc_hash("/big"), 0.5)]);
        assert_eq!(rig.shared.stats().oversized, 0);
    }

    #[test]
    fn osc_string_only_and_non_finite_are_counted_not_queued() {
        let mut rig = rig();
        rig.send(&message("/mam/name", vec!["vocals".into()]));
        rig.send(&message("/mam/none", vec![]));
        rig.send(&message("/mam/nan", vec![OscType::Float(f32::NAN)]));
        // 1e300 does not fit an f32: it becomes +inf.
        rig.send(&message("/mam/huge", vec![OscType::Double(1e300)]));
        assert_eq!(rig.settle(), vec![]);
        let stats = rig.shared.stats();
        assert_eq!((stats.no_numeric, stats.queued), (4, 1));
        // Learn sees them all (4 + the sentinel).
        assert_eq!(rig.shared.last_seen().0, 5);
    }

    #[test]
    fn osc_without_ports_counts_queue_full() {
        let mut rig = rig();
        rig.shared.set_ports(None);
        rig.send(&message("/mam/fader/1", vec![OscType::Float(0.25)]));
        // Hand ports back in (a new activation) so the sentinel can arrive.
        let (audio, ports) = link();
        // The server handles packets in order and takes the ports lock per
        // packet; wait until it counted the first one before handing in.
        let start = Instant::now();
        while rig.shared.stats().queue_full == 0 && start.elapsed() < WAIT {
            thread::sleep(Duration::from_millis(1));
        }
        rig.shared.set_ports(Some(ports));
        rig.audio = audio;
        assert_eq!(rig.settle(), vec![]);
        let stats = rig.shared.stats();
        assert_eq!((stats.queue_full, stats.queued), (1, 1));
    }

    #[test]
    fn osc_full_audio_queue_drops_and_counts_the_rest() {
        // Straight through `receive` (no socket): the audio thread does not
        // drain, so the queue takes QUEUE_CAPACITY values and counts the rest.
        let shared = OscShared::default();
        let (mut audio, ports) = link();
        shared.set_ports(Some(ports));
        let extra = 6;
        for i in 0..QUEUE_CAPACITY + extra {
            assert!(shared.receive(&bytes(&message("/q", vec![OscType::Int(i as i32)]))));
        }
        let stats = shared.stats();
        assert_eq!((stats.queued, stats.queue_full), (QUEUE_CAPACITY as u64, extra as u64));
        let mut got = Vec::new();
        audio.drain(&mut |_, value| got.push(value));
        let expected: Vec<f32> = (0..QUEUE_CAPACITY).map(|i| i as f32).collect();
        assert_eq!(got, expected, "the first ones kept, in order");
    }

    #[test]
    fn osc_feedback_goes_to_the_last_sender_under_the_mapped_address() {
        let mut rig = rig();
        rig.shared.set_addresses(vec!["/mam/fader/1".to_string(), "/mam/fader/2".to_string()]);
        // The server learns who to answer from a message.
        rig.send(&message("/mam/fader/1", vec![OscType::Float(0.25)]));
        assert_eq!(rig.drain_until(1).len(), 1);
        // An unmapped hash is skipped; the mapped one is sent.
        assert!(rig.audio.send(osc_hash("/not/mapped"), 0.9));
        assert!(rig.audio.send(osc_hash("/mam/fader/1"), 0.5));
        rig.client.set_read_timeout(Some(WAIT)).unwrap();
        let mut buffer = [0u8; 1024];
        let len = rig.client.recv(&mut buffer).expect("a feedback packet");
        let (_, packet) = rosc::decoder::decode_udp(&buffer[..len]).unwrap();
        assert_eq!(packet, message("/mam/fader/1", vec![OscType::Float(0.5)]));
        // The server counts a packet after sending it: it may arrive first.
        let counted = std::time::Instant::now();
        while rig.shared.stats().feedback_sent == 0 && counted.elapsed() < WAIT {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(rig.shared.stats().feedback_sent, 1);
        // Nothing else comes (the unmapped value was skipped, not delayed).
        rig.client.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        assert!(rig.client.recv(&mut buffer).is_err());
    }

    /// An app that opens after the plugin (no sender yet when the state
    /// was fed back) gets the whole state once it sends, latest values only.
    #[test]
    fn osc_a_new_sender_first_gets_the_whole_state() {
        let mut rig = rig();
        rig.shared.set_addresses(vec!["/mam/fader/1".to_string(), "/mam/fader/2".to_string()]);
        assert!(rig.audio.send(osc_hash("/mam/fader/1"), 0.1));
        assert!(rig.audio.send(osc_hash("/mam/fader/2"), 0.2));
        assert!(rig.audio.send(osc_hash("/mam/fader/1"), 0.3));
        // Let the server take them with no one to answer.
        std::thread::sleep(Duration::from_millis(50));
        rig.send(&message("/hello", vec![OscType::Float(0.0)]));
        rig.client.set_read_timeout(Some(WAIT)).unwrap();
        let mut buffer = [0u8; 1024];
        let mut got = Vec::new();
        for _ in 0..2 {
            let len = rig.client.recv(&mut buffer).expect("a state packet");
            got.push(rosc::decoder::decode_udp(&buffer[..len]).unwrap().1);
        }
        got.sort_by_key(|p| format!("{p:?}"));
        assert_eq!(got, [message("/mam/fader/1", vec![OscType::Float(0.3)]), message("/mam/fader/2", vec![OscType::Float(0.2)])]);
        rig.client.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        assert!(rig.client.recv(&mut buffer).is_err(), "the state once, not again");
    }

    #[test]
    fn osc_feedback_queue_full_is_counted() {
        let (mut audio, ports) = link();
        let shared = OscShared::default();
        shared.set_ports(Some(ports));
        for _ in 0..QUEUE_CAPACITY {
            assert!(audio.send(1, 0.5));
        }
        assert!(!audio.send(1, 0.5));
        assert!(!audio.send(1, 0.5));
        assert_eq!(shared.stats().feedback_full, 2);
    }

    #[test]
    fn osc_server_stops_on_drop_and_frees_the_port() {
        let rig = rig();
        let port = rig.server.port();
        assert_eq!(rig.shared.status(), OscStatus::Listening(port));
        let shared = Arc::clone(&rig.shared);
        drop(rig);
        assert_eq!(shared.status(), OscStatus::Off);
        UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).expect("the port is free again");
    }

    #[test]
    fn osc_port_in_use_fails_with_a_status() {
        let holder = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = holder.local_addr().unwrap().port();
        let shared = Arc::new(OscShared::default());
        let error = OscServer::start(port, Arc::clone(&shared)).err().expect("the port is taken");
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        assert!(matches!(shared.status(), OscStatus::Failed { port: p, .. } if p == port));
    }

    /// Deterministic xorshift64 bytes for the robustness test.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn osc_receive_survives_random_and_corrupted_packets() {
        let shared = OscShared::default();
        let (mut audio, ports) = link();
        shared.set_ports(Some(ports));
        let valid = bytes(&OscPacket::Bundle(OscBundle {
            timetag: OscTime { seconds: 1, fractional: 2 },
            content: vec![
                message("/a", vec![OscType::Float(0.5), "s".into(), OscType::Blob(vec![1, 2, 3])]),
                message("/b", vec![OscType::Int(1), OscType::Double(2.0), OscType::Bool(true)]),
            ],
        }));
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        let rounds = 20_000;
        let mut decoded = 0;
        for round in 0..rounds {
            let packet: Vec<u8> = if round % 2 == 0 {
                // Pure noise, 0…64 bytes.
                let len = (noise.next() % 65) as usize;
                (0..len).map(|_| noise.next() as u8).collect()
            } else {
                // A valid bundle with 1…4 bytes flipped and maybe cut short:
                // the lengths and type tags the decoder trusts get corrupted.
                let mut p = valid.clone();
                for _ in 0..1 + noise.next() % 4 {
                    let at = (noise.next() as usize) % p.len();
                    p[at] = noise.next() as u8;
                }
                p.truncate((noise.next() as usize) % (p.len() + 1));
                p
            };
            decoded += usize::from(shared.receive(&packet));
            audio.drain(&mut |_, value| assert!(value.is_finite()));
        }
        let stats = shared.stats();
        assert_eq!(stats.received, rounds);
        assert_eq!(stats.malformed + decoded as u64, rounds, "each packet decoded or counted malformed");
        // The corruption must leave some packets readable and break others,
        // or the test did not exercise the decoder.
        assert!(decoded > 0 && stats.malformed > 0);
    }

    #[test]
    fn osc_deepest_bundle_nesting_that_fits_is_unpacked() {
        // Each bundle level adds 20 bytes ("#bundle\0", a time tag, the
        // element size), so about 400 levels fit in 8 192 bytes: decoding,
        // applying and dropping all recurse that deep on the server thread.
        let mut rig = rig();
        let mut packet = bytes(&message("/deep", vec![OscType::Float(0.125)]));
        let levels = (MAX_PACKET_BYTES - packet.len()) / 20;
        for _ in 0..levels {
            let mut outer = b"#bundle\0".to_vec();
            outer.extend([0, 0, 0, 0, 0, 0, 0, 1]);
            outer.extend((packet.len() as u32).to_be_bytes());
            outer.extend(&packet);
            packet = outer;
        }
        assert!(levels >= 400 && packet.len() <= MAX_PACKET_BYTES);
        rig.client.send(&packet).unwrap();
        assert_eq!(rig.settle(), vec![(osc_hash("/deep"), 0.125)]);
    }

    #[test]
    fn osc_deeply_nested_arrays_do_not_crash_the_server() {
        // A type tag string of 3 000 '[' then 3 000 ']' inside the 8 192-byte
        // limit: nested arrays whose drop recurses. The server thread must
        // live on: a message after it still arrives.
        let mut rig = rig();
        let depth = 3000;
        let mut packet = b"/deep\0\0\0,".to_vec();
        packet.extend(std::iter::repeat_n(b'[', depth));
        packet.extend(std::iter::repeat_n(b']', depth));
        packet.push(0);
        while !packet.len().is_multiple_of(4) {
            packet.push(0);
        }
        assert!(packet.len() <= MAX_PACKET_BYTES);
        rig.client.send(&packet).unwrap();
        assert_eq!(rig.settle(), vec![]);
        // Decoded, but no numeric argument at the top level.
        assert_eq!(rig.shared.stats().no_numeric, 1);
    }
}
