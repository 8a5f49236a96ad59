//! Audio ports, the two audio-ports configurations and the note ports.
//!
//! Port ids and flags are those nice-plug 0.4.2 gave the same layouts, so
//! hosts' saved routings keep their ports: inputs are numbered from 0 (main,
//! Sidechain 1, Sidechain 2), outputs after them (main output 3, stems 4–11);
//! the main ports are an in-place pair.

use clack_extensions::audio_ports::{AudioPortFlags, AudioPortInfo, AudioPortInfoWriter, AudioPortType, PluginAudioPortsImpl};
use clack_extensions::audio_ports_config::{AudioPortConfigWriter, AudioPortsConfiguration, MainPortInfo, PluginAudioPortsConfigImpl, PluginAudioPortsConfigInfoImpl};
use clack_extensions::note_ports::{NoteDialect, NoteDialects, NotePortInfo, NotePortInfoWriter, PluginNotePortsImpl};
use clack_plugin::prelude::*;

use super::ClapMain;
use crate::format::{MAIN_INPUT_NAME, MAIN_OUTPUT_NAME, MIDI_IN_NAME, MIDI_OUT_NAME, NUM_KEYS, NUM_STEMS, SIDECHAIN_NAMES, STEM_NAMES};

/// The audio-ports configurations, in the order (and with the ids, their
/// indices) hosts list them. Hosts without the audio-ports-config extension
/// get the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortConfig {
    /// Main stereo in/out and the two stereo sidechains.
    Plain,
    /// The same plus eight stereo stems, one per bus slot 1–8.
    Stems,
}

impl PortConfig {
    const ALL: [PortConfig; 2] = [PortConfig::Plain, PortConfig::Stems];

    fn from_id(id: u32) -> Option<Self> {
        Self::ALL.get(id as usize).copied()
    }

    fn id(self) -> ClapId {
        ClapId::new(self as u32)
    }

    fn name(self) -> &'static str {
        match self {
            PortConfig::Plain => "Stereo + 2 sidechains",
            PortConfig::Stems => "Stereo + 2 sidechains + 8 bus stems",
        }
    }

    pub fn num_stems(self) -> usize {
        match self {
            PortConfig::Plain => 0,
            PortConfig::Stems => NUM_STEMS,
        }
    }

    fn num_inputs(self) -> u32 {
        1 + NUM_KEYS as u32
    }

    fn num_outputs(self) -> u32 {
        1 + self.num_stems() as u32
    }

    /// Port `index` of this configuration.
    fn write_port(self, index: u32, is_input: bool, writer: &mut AudioPortInfoWriter) {
        let num_inputs = self.num_inputs();
        let (id, name, flags, in_place_pair) = match (is_input, index) {
            (true, 0) => (0, MAIN_INPUT_NAME, AudioPortFlags::IS_MAIN, Some(ClapId::new(num_inputs))),
            (true, k) if k < num_inputs => (k, SIDECHAIN_NAMES[k as usize - 1], AudioPortFlags::empty(), None),
            (false, 0) => (num_inputs, MAIN_OUTPUT_NAME, AudioPortFlags::IS_MAIN, Some(ClapId::new(0))),
            (false, k) if k < self.num_outputs() => (num_inputs + k, STEM_NAMES[k as usize - 1], AudioPortFlags::empty(), None),
            // Out of range: nothing written, so the host is told false.
            _ => return,
        };
        writer.set(&AudioPortInfo {
            id: ClapId::new(id),
            name: name.as_bytes(),
            channel_count: 2,
            flags,
            port_type: Some(AudioPortType::STEREO),
            in_place_pair,
        });
    }
}

impl PluginAudioPortsImpl for ClapMain<'_> {
    fn count(&self, is_input: bool) -> u32 {
        let config = self.config.get();
        if is_input {
            config.num_inputs()
        } else {
            config.num_outputs()
        }
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut AudioPortInfoWriter) {
        self.config.get().write_port(index, is_input, writer);
    }
}

impl PluginAudioPortsConfigImpl for ClapMain<'_> {
    fn count(&self) -> u32 {
        PortConfig::ALL.len() as u32
    }

    fn get(&self, index: u32, writer: &mut AudioPortConfigWriter) {
        let Some(config) = PortConfig::from_id(index) else { return };
        let stereo = MainPortInfo { channel_count: 2, port_type: Some(AudioPortType::STEREO) };
        writer.write(&AudioPortsConfiguration {
            id: config.id(),
            name: config.name().as_bytes(),
            input_port_count: config.num_inputs(),
            output_port_count: config.num_outputs(),
            main_input: Some(stereo),
            main_output: Some(stereo),
        });
    }

    /// Only while inactive (clack refuses the call otherwise, as CLAP asks);
    /// the ports hosts read next are the new configuration's.
    fn select(&self, config_id: ClapId) -> Result<(), PluginError> {
        let config = PortConfig::from_id(config_id.get()).ok_or(PluginError::Message("no audio-ports configuration has this id"))?;
        self.config.set(config);
        Ok(())
    }
}

/// Lets hosts read a configuration's ports without selecting it.
impl PluginAudioPortsConfigInfoImpl for ClapMain<'_> {
    fn current_config(&self) -> Option<ClapId> {
        Some(self.config.get().id())
    }

    fn get(&self, config_id: ClapId, index: u32, is_input: bool, writer: &mut AudioPortInfoWriter) {
        if let Some(config) = PortConfig::from_id(config_id.get()) {
            config.write_port(index, is_input, writer);
        }
    }
}

/// One MIDI input and one MIDI output note port. The input takes MIDI and
/// CLAP note events (note on/off arrive as MIDI); the output sends MIDI.
impl PluginNotePortsImpl for ClapMain<'_> {
    fn count(&self, _is_input: bool) -> u32 {
        1
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut NotePortInfoWriter) {
        if index != 0 {
            return;
        }
        let (name, supported) = if is_input {
            (MIDI_IN_NAME, NoteDialects::MIDI | NoteDialects::CLAP)
        } else {
            (MIDI_OUT_NAME, NoteDialects::MIDI)
        };
        writer.set(&NotePortInfo { id: ClapId::new(0), name: name.as_bytes(), supported_dialects: supported, preferred_dialect: Some(NoteDialect::Midi) });
    }
}
