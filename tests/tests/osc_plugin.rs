//! OSC into a running instance over real UDP on loopback (issue:
//! controllers play the mix, item 6): a fader message moves its bus, a
//! scene message recalls a scene, malformed and oversized packets are
//! dropped without harm, and feedback goes back to the sender's address —
//! for what moved elsewhere (the fader, by the scene) and the scene's
//! light, never for the sender's own fader move.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use mam_tests::clap::{self, AudioThread};
use rosc::{OscMessage, OscPacket, OscType};

fn session(port: u16) -> String {
    format!(
        r#"{{ "version": 1, "sampleRate": 48000, "channels": 2, "panLaw": "balance",
        "racks": [ {{ "id": "m", "input": "main" }} ],
        "buses": [ {{ "id": "a", "route": "master" }}, {{ "id": "master" }} ],
        "routes": [ {{ "from": "m", "to": "a" }} ],
        "scenes": [ {{ "name": "down", "values": {{ "a.gainDb": -6 }} }} ],
        "mappings": [
          {{ "input": {{ "type": "osc", "address": "/mam/fader/1" }}, "transform": {{ "min": -60, "max": 0, "smoothMs": 0 }}, "target": {{ "path": "a.gainDb" }} }},
          {{ "input": {{ "type": "osc", "address": "/mam/scene/1" }}, "target": {{ "action": "scene", "scene": 1 }} }} ],
        "osc": {{ "enabled": true, "port": {port} }} }}"#
    )
}

fn message(address: &str, value: f32) -> Vec<u8> {
    rosc::encoder::encode(&OscPacket::Message(OscMessage { addr: address.into(), args: vec![OscType::Float(value)] })).expect("encodes")
}

/// A port nothing listens on now (the OS's next free one).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").expect("binds").local_addr().unwrap().port()
}

/// Every `(address, value)` received within `wait`.
fn receive(socket: &UdpSocket, wait: Duration) -> Vec<(String, f32)> {
    let mut got = Vec::new();
    let end = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        socket.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        let Ok(n) = socket.recv(&mut buf) else { break };
        if let Ok((_, OscPacket::Message(m))) = rosc::decoder::decode_udp(&buf[..n]) {
            if let Some(OscType::Float(v)) = m.args.first() {
                got.push((m.addr.clone(), *v));
            }
        }
    }
    got
}

fn db(x: f32) -> f64 {
    20.0 * (x as f64 / 0.5).log10()
}

#[test]
fn osc_messages_move_the_mix_bad_packets_do_no_harm_and_feedback_returns_to_the_sender() {
    let _serial = clap::SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let mut loaded = clap::load_with_session(&session(port));
    let audio = AudioThread::start(&mut loaded, Box::new(|_| (0.5, 0.0)));
    // The control thread starts the server once the session runs: wait
    // until the port is taken.
    let start = Instant::now();
    while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(start.elapsed() < Duration::from_secs(10), "the OSC server never listened on {port}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = ("127.0.0.1", port);

    // A first message makes this socket the controller; feedback queued
    // before anyone listened (the state at activation) arrives now.
    client.send_to(&message("/hello", 0.0), server).unwrap();
    let state = receive(&client, Duration::from_millis(300));
    assert!(state.iter().all(|(a, v)| (a == "/mam/fader/1" && *v == 1.0) || (a == "/mam/scene/1" && *v == 0.0)), "the state at activation: {state:?}");

    // The fader to 0.5 → −30 dB; the sender's own move is not sent back.
    client.send_to(&message("/mam/fader/1", 0.5), server).unwrap();
    let echo = receive(&client, Duration::from_millis(400));
    assert!(echo.is_empty(), "no echo of the sender's own move: {echo:?}");

    // Garbage and an oversized (but valid) packet are dropped.
    client.send_to(b"\x00\x01not osc at all", server).unwrap();
    let mut huge = message("/mam/fader/1", 1.0);
    huge.resize(10_000, 0);
    client.send_to(&huge, server).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    // The scene: a press recalls scene 1 (a at −6 dB); the fader follows on
    // the controller: (−6 + 60) / 60 = 0.9.
    client.send_to(&message("/mam/scene/1", 1.0), server).unwrap();
    // Collected until the fader reports 0.9 (or 10 s pass on a loaded machine).
    let mut fed = Vec::new();
    let start = Instant::now();
    while !fed.iter().any(|(a, v): &(String, f32)| a == "/mam/fader/1" && (v - 0.9).abs() < 1e-5) && start.elapsed() < Duration::from_secs(10) {
        fed.extend(receive(&client, Duration::from_millis(100)));
    }
    assert!(fed.contains(&("/mam/scene/1".to_string(), 1.0)), "the scene's light turns on: {fed:?}");
    let last = fed.iter().rev().find(|(a, _)| a == "/mam/fader/1").map(|&(_, v)| v);
    assert!(last.is_some_and(|v| (v - 0.9).abs() < 1e-5), "the fader follows the recall to 0.9: {fed:?}");
    let heard = audio.stop(&mut loaded);

    // The mix: it sat at −30 dB (the fader) for a while, then lands at −6 dB.
    assert!(heard.iter().any(|&x| (db(x) + 30.0).abs() < 1e-3), "the fader message moved the bus to −30 dB");
    let end = *heard.last().unwrap();
    assert!((db(end) + 6.0).abs() < 1e-3, "ends at −6 dB: {} dB", db(end));
    // The oversized packet (fader to 1.0 = 0 dB) never applied.
    assert!(heard.iter().skip_while(|&&x| (db(x) + 30.0).abs() > 1e-3).all(|&x| db(x) < -5.9), "never back at 0 dB after the fader moved");
}
