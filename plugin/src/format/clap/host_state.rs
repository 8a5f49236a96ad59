//! State, latency and remote-control pages: what the host asks of the
//! instance as a whole, on the main thread.

use std::io::{Read, Write};

use clack_extensions::latency::PluginLatencyImpl;
use clack_extensions::remote_controls::{PluginRemoteControlsImpl, RemoteControlsPage, RemoteControlsPageWriter};
use clack_extensions::state::PluginStateImpl;
use clack_plugin::prelude::*;
use clack_plugin::stream::{InputStream, OutputStream};

use super::ClapMain;

/// Larger states are refused before anything is allocated for them (a
/// session is kilobytes; this only guards against a corrupt length).
const MAX_STATE_BYTES: u64 = 64 << 20;

/// The state is nice-plug's CLAP layout, so projects saved before our own
/// format layer load: the JSON's length as a little-endian `u64`, then the
/// JSON ([`crate::MamSession::save_state`]). CLAP streams may move fewer
/// bytes per call than asked; both directions loop until done.
impl PluginStateImpl for ClapMain<'_> {
    fn save(&self, output: &mut OutputStream) -> Result<(), PluginError> {
        let json = self.session.borrow().save_state();
        output.write_all(&(json.len() as u64).to_le_bytes())?;
        output.write_all(&json)?;
        Ok(())
    }

    /// Parameter values apply at once; the session goes through the control
    /// thread (the running one plays on until it is compiled). Then the host
    /// is told to re-read every value.
    fn load(&self, input: &mut InputStream) -> Result<(), PluginError> {
        let mut length = [0u8; 8];
        input.read_exact(&mut length)?;
        let length = u64::from_le_bytes(length);
        if length > MAX_STATE_BYTES {
            return Err(PluginError::Message("the state's length is implausible"));
        }
        let mut json = Vec::with_capacity(length as usize);
        input.take(length).read_to_end(&mut json)?;
        if json.len() as u64 != length {
            return Err(PluginError::Message("the state ends early"));
        }
        let loaded = self.session.borrow().load_state(&json);
        loaded.map_err(|e| PluginError::Error(e.into()))?;
        self.rescan_values();
        Ok(())
    }
}

impl PluginLatencyImpl for ClapMain<'_> {
    /// See [`ClapMain::latency`].
    fn get(&self) -> u32 {
        self.latency.get()
    }
}

/// The pages of [`crate::MamSession::remote_control_pages`], ids in order.
impl PluginRemoteControlsImpl for ClapMain<'_> {
    fn count(&self) -> u32 {
        self.remote_pages.len() as u32
    }

    fn get(&self, index: u32, writer: &mut RemoteControlsPageWriter) {
        let Some(page) = self.remote_pages.get(index as usize) else { return };
        writer.set(&RemoteControlsPage {
            section_name: page.section.as_bytes(),
            page_id: ClapId::new(index),
            page_name: page.name.as_bytes(),
            param_ids: page.params.map(|id| id.map(ClapId::new)),
            is_for_preset: false,
        });
    }
}
