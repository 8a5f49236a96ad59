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
use x11rb::wrapper::ConnectionExt as _;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, EventMask, ImageFormat, WindowClass};

/// A private X server on the first free display number; killed on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    /// Starts Xvfb and lets it pick a free display number itself
    /// (`-displayfd`), so parallel runs cannot collide.
    fn start() -> Xvfb {
        use std::io::BufRead;
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Xvfb runs (Debian: apt-get install xvfb; `cargo xtask test` installs it)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("Xvfb reports its display");
        let display = format!(":{}", line.trim());
        assert!(line.trim().parse::<u32>().is_ok(), "Xvfb did not start (said {line:?})");
        Xvfb { child, display }
    }
}

impl Drop for Xvfb {
    /// Stops Xvfb once this test process has exited: the plugin's window
    /// threads may still hold X connections until then, and Xlib ends the
    /// whole process when its server goes away.
    fn drop(&mut self) {
        let watcher = format!("while kill -0 {} 2>/dev/null; do sleep 0.2; done; kill {}", std::process::id(), self.child.id());
        let _ = Command::new("sh")
            .args(["-c", &watcher])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
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
    let audio = AudioThread::start(
        &mut loaded,
        Box::new(|i| {
            let t = i as f32;
            let music = 0.3 * ((t * 0.031).sin() + 0.5 * (t * 0.0071).sin());
            let voice = 0.25 * ((t * 0.0628).sin() + 0.6 * (t * 0.1257).sin()) * (t * 0.0002).sin().abs();
            (music, voice)
        }),
    );
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
    // A round trip: the server has made the window before the plugin, on
    // its own connection, reparents into it (X orders requests only within
    // one connection).
    conn.sync().unwrap();
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

