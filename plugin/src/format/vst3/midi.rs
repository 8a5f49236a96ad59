//! MIDI between VST3's note events and controller parameters and the
//! plugin's short MIDI messages ([`MidiEvent`](crate::format::MidiEvent)).
//!
//! Notes and poly pressure arrive as events. Controllers (CCs, channel
//! pressure, pitch bend) do not: VST3 hosts map them to parameters the
//! plugin names through `IMidiMapping` and send parameter changes. The
//! plugin declares one hidden, read-only parameter per channel and
//! controller — 16 × 130 — with ids at the top of the plugin's id range,
//! `CONTROLLER_PARAMS_START + channel · 130 + controller` (controller 0–127:
//! CC, 128: channel pressure, 129: pitch bend), the scheme nice-plug used,
//! and turns their changes back into MIDI at the same sample. Output
//! controllers go out as `kLegacyMIDICCOutEvent`s.

use std::ffi::c_char;

use vst3::Steinberg::Vst::{
    ControllerNumbers_, Event as HostEvent, Event_::EventTypes_, LegacyMIDICCOutEvent, NoteOffEvent, NoteOnEvent, PolyPressureEvent,
};

/// Controllers per channel: the 128 CCs, channel pressure, pitch bend.
pub(super) const NUM_CONTROLLERS: u32 = 130;
pub(super) const NUM_CHANNELS: u32 = 16;
pub(super) const NUM_CONTROLLER_PARAMS: u32 = NUM_CONTROLLERS * NUM_CHANNELS;
/// First controller parameter id. Ids with the top bit set belong to hosts,
/// so the range ends just below it; no parameter hash falls in it (tested).
pub(super) const CONTROLLER_PARAMS_START: u32 = (1 << 31) - NUM_CONTROLLER_PARAMS;

const CHANNEL_PRESSURE: u8 = ControllerNumbers_::kAfterTouch as u8;
const PITCH_BEND: u8 = ControllerNumbers_::kPitchBend as u8;
const PROGRAM_CHANGE: u8 = ControllerNumbers_::kCtrlProgramChange as u8;

/// The parameter id of a controller on a channel, if both are in range.
pub(super) fn controller_param(channel: i16, controller: i16) -> Option<u32> {
    let channel = u32::try_from(channel).ok().filter(|&c| c < NUM_CHANNELS)?;
    let controller = u32::try_from(controller).ok().filter(|&c| c < NUM_CONTROLLERS)?;
    Some(CONTROLLER_PARAMS_START + channel * NUM_CONTROLLERS + controller)
}

/// (channel, controller) of a controller parameter id.
pub(super) fn param_controller(id: u32) -> Option<(u8, u8)> {
    let index = id.checked_sub(CONTROLLER_PARAMS_START).filter(|&i| i < NUM_CONTROLLER_PARAMS)?;
    Some(((index / NUM_CONTROLLERS) as u8, (index % NUM_CONTROLLERS) as u8))
}

/// The title hosts show for a controller parameter (they hide it, but log
/// and learn dialogs may name it).
pub(super) fn controller_title(channel: u8, controller: u8) -> String {
    let channel = channel + 1;
    match controller {
        CHANNEL_PRESSURE => format!("MIDI Ch. {channel} Channel Pressure"),
        PITCH_BEND => format!("MIDI Ch. {channel} Pitch Bend"),
        cc => format!("MIDI Ch. {channel} CC {cc}"),
    }
}

/// A controller's resting value: pitch bend rests in the middle.
pub(super) fn controller_default(controller: u8) -> f64 {
    if controller == PITCH_BEND {
        0.5
    } else {
        0.0
    }
}

/// A 0–1 value as a 7-bit MIDI data byte.
fn to_7bit(value: f64) -> u8 {
    (value.clamp(0.0, 1.0) * 127.0).round() as u8
}

/// The MIDI message for a controller parameter's new value.
pub(super) fn controller_message(channel: u8, controller: u8, normalized: f64) -> [u8; 3] {
    match controller {
        CHANNEL_PRESSURE => [0xD0 | channel, to_7bit(normalized), 0],
        PITCH_BEND => {
            // 14 bits, LSB first; 0.5 lands on the centre, 0x2000.
            let bend = (normalized.clamp(0.0, 1.0) * 16383.0).round() as u16;
            [0xE0 | channel, (bend & 0x7F) as u8, (bend >> 7) as u8]
        }
        cc => [0xB0 | channel, cc, to_7bit(normalized)],
    }
}

/// A host note event as a MIDI message: note on, note off, poly pressure.
/// `None` for other event types (note expression, sysex, chords) and for
/// channels or pitches outside MIDI's range.
pub(super) fn from_host(event: &HostEvent) -> Option<[u8; 3]> {
    // SAFETY (union reads): `type` says which member the host filled in.
    let (status, channel, pitch, value) = match u32::from(event.r#type) {
        EventTypes_::kNoteOnEvent => {
            let e = unsafe { event.__field0.noteOn };
            // Velocity 0 means note-off in MIDI: a soft note-on keeps at least 1.
            let velocity = if e.velocity > 0.0 { to_7bit(f64::from(e.velocity)).max(1) } else { 0 };
            (0x90, e.channel, e.pitch, velocity)
        }
        EventTypes_::kNoteOffEvent => {
            let e = unsafe { event.__field0.noteOff };
            (0x80, e.channel, e.pitch, to_7bit(f64::from(e.velocity)))
        }
        EventTypes_::kPolyPressureEvent => {
            let e = unsafe { event.__field0.polyPressure };
            (0xA0, e.channel, e.pitch, to_7bit(f64::from(e.pressure)))
        }
        _ => return None,
    };
    let channel = u8::try_from(channel).ok().filter(|&c| u32::from(c) < NUM_CHANNELS)?;
    let pitch = u8::try_from(pitch).ok().filter(|&p| p < 128)?;
    Some([status | channel, pitch, value])
}

/// A MIDI message as a host event on event bus 0 at `sample_offset`: notes
/// and poly pressure as note events, controllers, channel pressure, pitch
/// bend and program changes as `kLegacyMIDICCOutEvent`. `None` for system
/// messages.
pub(super) fn to_host(data: [u8; 3], sample_offset: i32) -> Option<HostEvent> {
    let channel = i16::from(data[0] & 0x0F);
    let (d1, d2) = (data[1] & 0x7F, data[2] & 0x7F);
    let unit = |byte: u8| f32::from(byte) / 127.0;
    // SAFETY: Event is plain data; all-zero is a valid value of it.
    let mut event: HostEvent = unsafe { std::mem::zeroed() };
    event.sampleOffset = sample_offset;
    // Note ids are not carried through MIDI: -1 is the spec's "none".
    let note_off = |velocity: u8| NoteOffEvent { channel, pitch: i16::from(d1), velocity: unit(velocity), noteId: -1, tuning: 0.0 };
    let controller = |number: u8, value: u8, value2: u8| LegacyMIDICCOutEvent {
        controlNumber: number,
        channel: channel as c_char,
        value: value as c_char,
        value2: value2 as c_char,
    };
    match data[0] & 0xF0 {
        0x80 => {
            event.r#type = EventTypes_::kNoteOffEvent as u16;
            event.__field0.noteOff = note_off(d2);
        }
        0x90 if d2 == 0 => {
            event.r#type = EventTypes_::kNoteOffEvent as u16;
            event.__field0.noteOff = note_off(0);
        }
        0x90 => {
            event.r#type = EventTypes_::kNoteOnEvent as u16;
            event.__field0.noteOn = NoteOnEvent { channel, pitch: i16::from(d1), tuning: 0.0, velocity: unit(d2), length: 0, noteId: -1 };
        }
        0xA0 => {
            event.r#type = EventTypes_::kPolyPressureEvent as u16;
            event.__field0.polyPressure = PolyPressureEvent { channel, pitch: i16::from(d1), pressure: unit(d2), noteId: -1 };
        }
        status @ (0xB0 | 0xC0 | 0xD0 | 0xE0) => {
            event.r#type = EventTypes_::kLegacyMIDICCOutEvent as u16;
            event.__field0.midiCCOut = match status {
                0xB0 => controller(d1, d2, 0),
                0xC0 => controller(PROGRAM_CHANGE, d1, 0),
                0xD0 => controller(CHANNEL_PRESSURE, d1, 0),
                // Pitch bend: value = LSB, value2 = MSB.
                _ => controller(PITCH_BEND, d1, d2),
            };
        }
        _ => return None,
    }
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_ids_round_trip_and_stay_below_the_hosts_range() {
        assert_eq!(controller_param(0, 0), Some(CONTROLLER_PARAMS_START));
        let last = controller_param(15, 129).unwrap();
        assert_eq!(last, (1 << 31) - 1, "the last id is the last one a plugin may use");
        assert_eq!(param_controller(last), Some((15, 129)));
        assert_eq!(param_controller(controller_param(3, 7).unwrap()), Some((3, 7)));
        assert_eq!(controller_param(16, 0), None);
        assert_eq!(controller_param(0, 130), None);
        assert_eq!(param_controller(CONTROLLER_PARAMS_START - 1), None);
    }

    #[test]
    fn no_parameter_hash_collides_with_a_controller_id() {
        let params = std::sync::Arc::new(crate::MamParams::new(crate::DEFAULT_SESSION_JSON.to_string()));
        let table = crate::format::ParamTable::new(params);
        assert!(table.entries().iter().all(|e| param_controller(e.hash).is_none()));
    }

    #[test]
    fn controller_values_become_midi_bytes() {
        assert_eq!(controller_message(2, 7, 1.0), [0xB2, 7, 127]);
        assert_eq!(controller_message(0, 1, 0.5), [0xB0, 1, 64], "63.5 rounds up");
        assert_eq!(controller_message(0, PITCH_BEND, 0.5), [0xE0, 0x00, 0x40], "centre: 8192");
        assert_eq!(controller_message(0, PITCH_BEND, 1.0), [0xE0, 0x7F, 0x7F]);
        assert_eq!(controller_message(15, CHANNEL_PRESSURE, 0.0), [0xDF, 0, 0]);
    }

    #[test]
    fn notes_round_trip_through_host_events() {
        for data in [[0x93, 60, 100], [0x80, 61, 0], [0xA1, 62, 5]] {
            let event = to_host(data, 17).expect("a note message");
            assert_eq!(event.sampleOffset, 17);
            assert_eq!(from_host(&event), Some(data));
        }
        // A note-on of velocity 0 is a note-off, and leaves as one.
        let off = to_host([0x90, 60, 0], 0).unwrap();
        assert_eq!(u32::from(off.r#type), EventTypes_::kNoteOffEvent);
        // SAFETY (union reads in these tests): the type was just checked or set.
        let bend = to_host([0xE4, 0x01, 0x40], 3).unwrap();
        assert_eq!(u32::from(bend.r#type), EventTypes_::kLegacyMIDICCOutEvent);
        let cc = unsafe { bend.__field0.midiCCOut };
        assert_eq!((cc.controlNumber, cc.channel, cc.value, cc.value2), (PITCH_BEND, 4, 1, 0x40));
        assert!(to_host([0xF8, 0, 0], 0).is_none(), "clock is a system message");
        let mut soft = to_host([0x90, 60, 1], 0).unwrap();
        soft.__field0.noteOn.velocity = 0.001;
        assert_eq!(from_host(&soft), Some([0x90, 60, 1]), "a soft note-on stays a note-on");
    }
}
