//! The editor in a real window: a virtual X server (Xvfb), an X11 parent
//! window made here, the bundled CLAP plugin's GUI embedded in it through
//! CLAP's gui extension (as Bitwig or Reaper do), a screenshot of the parent
//! window saved to `target/editor-screenshot.png`, and checks that it has
//! the size the plugin asked for and is not blank.
//!
//! Needs `Xvfb` (Debian: `apt-get install xvfb`; `cargo xtask test` installs
//! it when missing). This file holds one test, so setting `DISPLAY` for the
//! process cannot race with another test.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use clack_extensions::gui::{GuiApiType, GuiConfiguration, PluginGui, Window};
use mam_tests::clap::*;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, EventMask, ImageFormat, WindowClass};

/// A private X server on the first free display number; killed on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        for n in 91..120 {
            if std::path::Path::new(&format!("/tmp/.X{n}-lock")).exists() {
                continue;
            }
            let display = format!(":{n}");
            let child = Command::new("Xvfb")
                .args([&display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("Xvfb runs (Debian: apt-get install xvfb; `cargo xtask test` installs it)");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if x11rb::connect(Some(&display)).is_ok() {
                    return Xvfb { child, display };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            panic!("Xvfb on {display} did not accept connections");
        }
        panic!("no free X display number");
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_editor_opens_in_an_x11_window_and_draws_the_mixer() {
    let xvfb = Xvfb::start();
    // SAFETY: the only test in this binary; nothing else reads the
    // environment concurrently.
    unsafe { std::env::set_var("DISPLAY", &xvfb.display) };
    let (conn, screen_num) = x11rb::connect(Some(&xvfb.display)).unwrap();
    let screen = conn.setup().roots[screen_num].clone();

    let mut loaded = load();
    // Music on the main input and a voice-like key on Sidechain 1, played on
    // an audio thread while the window is open, so meters and the ducker
    // display move.
    let audio = play_in_background(&mut loaded);
    let handle = loaded.instance.plugin_handle();
    let gui: PluginGui = handle.get_extension().expect("the plugin has a GUI");
    let config = GuiConfiguration { api_type: GuiApiType::X11, is_floating: false };
    assert!(gui.is_api_supported(&handle, config), "embedded X11 GUI supported");
    gui.create(&handle, config).expect("GUI created");
    let _ = gui.set_scale(&handle, 1.0);
    let size = gui.get_size(&handle).expect("the GUI has a size");
    assert_eq!((size.width, size.height), (1200, 760), "the editor's default size");
    assert!(gui.can_resize(&handle), "the window is resizable");

    let parent = conn.generate_id().unwrap();
    conn.create_window(
        screen.root_depth,
        parent,
        screen.root,
        0,
        0,
        size.width as u16,
        size.height as u16,
        0,
        WindowClass::INPUT_OUTPUT,
        screen.root_visual,
        &CreateWindowAux::new().background_pixel(screen.black_pixel).event_mask(EventMask::EXPOSURE),
    )
    .unwrap();
    conn.map_window(parent).unwrap();
    conn.flush().unwrap();
    // SAFETY: the parent window lives until after `destroy` below.
    unsafe { gui.set_parent(&handle, Window::from_x11_handle(parent as _)) }.expect("embedded");
    gui.show(&handle).expect("shown");

    // Let the editor draw several frames, serving main-thread callbacks.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        pump_main_thread(&mut loaded);
        std::thread::sleep(Duration::from_millis(20));
    }

    let image = conn.get_image(ImageFormat::Z_PIXMAP, parent, 0, 0, size.width as u16, size.height as u16, !0).unwrap().reply().unwrap();
    let (w, h) = (size.width as usize, size.height as usize);
    assert_eq!(image.data.len(), w * h * 4, "32-bit pixels");
    // X gives BGRX; PNG wants RGB.
    let rgb: Vec<u8> = image.data.chunks_exact(4).flat_map(|p| [p[2], p[1], p[0]]).collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/editor-screenshot.png");
    let file = std::fs::File::create(&path).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().unwrap().write_image_data(&rgb).unwrap();
    println!("screenshot: {}", path.display());

    let handle = loaded.instance.plugin_handle();
    gui.destroy(&handle);
    audio.stop(&mut loaded);
    conn.destroy_window(parent).unwrap();
    conn.flush().unwrap();

    // Not blank: luminance varies, and many distinct colours are drawn.
    let luma: Vec<f64> = rgb.chunks_exact(3).map(|p| 0.2126 * p[0] as f64 + 0.7152 * p[1] as f64 + 0.0722 * p[2] as f64).collect();
    let mean = luma.iter().sum::<f64>() / luma.len() as f64;
    let variance = luma.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / luma.len() as f64;
    let mut colours: Vec<[u8; 3]> = rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    println!("luma mean {mean:.1}, variance {variance:.1}, {} colours", colours.len());
    assert!(variance > 100.0, "the window is not blank (luma variance {variance:.1})");
    assert!(colours.len() > 50, "the editor drew text and widgets ({} colours)", colours.len());
}

/// An audio thread processing music and a key until stopped.
struct Background {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<clack_host::prelude::StoppedPluginAudioProcessor<TestHost>>,
}

impl Background {
    fn stop(self, loaded: &mut Loaded) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let stopped = self.thread.join().unwrap();
        loaded.instance.deactivate(stopped);
    }
}

fn play_in_background(loaded: &mut Loaded) -> Background {
    use clack_host::prelude::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    let config = PluginAudioConfiguration { sample_rate: RATE, min_frames_count: 1, max_frames_count: BLOCK };
    let stopped = loaded.instance.activate(|_, _| (), config).unwrap();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut processor = stopped.start_processing().unwrap();
        let mut inputs = AudioPorts::with_capacity(6, 3);
        let mut outputs = AudioPorts::with_capacity(2, 1);
        let n = BLOCK as usize;
        let mut t = 0usize;
        while !flag.load(Ordering::SeqCst) {
            let music: Vec<f32> = (t..t + n).map(|i| 0.3 * ((i as f32 * 0.031).sin() + 0.5 * (i as f32 * 0.0071).sin())).collect();
            let voice: Vec<f32> = (t..t + n).map(|i| 0.25 * ((i as f32 * 0.0628).sin() + 0.6 * (i as f32 * 0.1257).sin()) * (i as f32 * 0.0002).sin().abs()).collect();
            t += n;
            let mut main = [music.clone(), music];
            let mut key1 = [voice.clone(), voice];
            let mut key2 = [vec![0.0f32; n], vec![0.0f32; n]];
            let mut out = [vec![0.0f32; n], vec![0.0f32; n]];
            let input_audio = inputs.with_input_buffers([
                AudioPortBuffer { latency: 0, channels: AudioPortBufferType::f32_input_only(main.iter_mut().map(variable)) },
                AudioPortBuffer { latency: 0, channels: AudioPortBufferType::f32_input_only(key1.iter_mut().map(variable)) },
                AudioPortBuffer { latency: 0, channels: AudioPortBufferType::f32_input_only(key2.iter_mut().map(variable)) },
            ]);
            let mut output_audio = outputs.with_output_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only(out.iter_mut().map(|b| b.as_mut_slice())),
            }]);
            let mut events = EventBuffer::new();
            processor.process(&input_audio, &mut output_audio, &InputEvents::empty(), &mut OutputEvents::from_buffer(&mut events), None, None).unwrap();
            // About realtime: 512 frames are 10.7 ms at 48 kHz.
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        processor.stop_processing()
    });
    Background { stop, thread }
}
