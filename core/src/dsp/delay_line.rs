//! `DelayLine`: a whole-sample multichannel delay, used for latency compensation and lookahead.

use crate::audio_buf::AudioBuf;

/// Delays every channel by `delay` samples (0 ≤ `delay` ≤ capacity).
///
/// The ring is allocated in [`DelayLine::new`] to the largest delay it will
/// ever need; [`DelayLine::set_delay`] changes the delay within that capacity
/// without allocating.
#[derive(Clone, Debug)]
pub struct DelayLine {
    /// `[channel][slot]`, `channels * capacity` samples, allocated in `new`.
    ring: Vec<f32>,
    channels: usize,
    capacity: usize,
    delay: usize,
    write_pos: usize,
}

impl DelayLine {
    /// A silent delay line of `delay` samples that can later be set up to
    /// `capacity` samples. Allocates; call on the control side.
    pub fn new(channels: usize, delay: usize, capacity: usize) -> Self {
        let capacity = capacity.max(delay);
        Self { ring: vec![0.0; channels * capacity.max(1)], channels, capacity, delay, write_pos: 0 }
    }

    pub fn delay(&self) -> usize {
        self.delay
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Changes the delay, clamped to the capacity. Samples already in the ring
    /// are kept, so shortening the delay skips ahead and lengthening it repeats
    /// older audio; callers that change delay mid-stream accept that.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn set_delay(&mut self, delay: usize) {
        self.delay = delay.min(self.capacity);
    }

    /// Continues from `old` (the line this one replaces after an edit): the
    /// audio `old` holds comes out of this line at this line's delay, so a
    /// changed latency compensation neither restarts empty nor clicks to
    /// silence. Lengthening the delay repeats nothing and leaves a gap of
    /// at most the difference (the samples `old` never stored); shortening
    /// it skips the difference. Lines of equal shape are swapped (no copy),
    /// so `old` then holds this line's fresh ring for the control side to
    /// free. Lines of other widths are not taken over.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn take_over(&mut self, old: &mut DelayLine) {
        if old.channels != self.channels {
            return;
        }
        if old.capacity == self.capacity {
            let delay = self.delay;
            std::mem::swap(self, old);
            self.delay = delay;
            return;
        }
        if old.delay == 0 || self.delay == 0 {
            // A zero delay never writes its ring: there is no history to keep.
            return;
        }
        // History: the sample written k frames ago sits k slots behind the
        // write position. Copy the newest `min(old.delay, capacity)` of them.
        let keep = old.delay.min(self.capacity);
        for ch in 0..self.channels {
            for k in 1..=keep {
                let from = (old.write_pos + old.capacity - k) % old.capacity;
                let to = (self.write_pos + self.capacity - k) % self.capacity;
                self.ring[ch * self.capacity + to] = old.ring[ch * old.capacity + from];
            }
        }
    }

    /// Silences the ring.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn reset(&mut self) {
        self.ring.fill(0.0);
        self.write_pos = 0;
    }

    /// Delays the first `frames` frames of every channel of `audio` in place.
    /// `audio` must have `channels()` channels.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    pub fn process(&mut self, audio: &mut AudioBuf, frames: usize) {
        self.process_range(audio, 0..frames);
    }

    /// [`Self::process`] on frames `range` of `audio` (the line's next
    /// `range.len()` frames).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    pub fn process_range(&mut self, audio: &mut AudioBuf, range: std::ops::Range<usize>) {
        let frames = range.len();
        if self.delay == 0 {
            return;
        }
        let cap = self.capacity;
        for ch in 0..self.channels {
            let ring = &mut self.ring[ch * cap..(ch + 1) * cap];
            let samples = &mut audio.channel_mut(ch)[range.clone()];
            let mut write = self.write_pos;
            let mut read = (write + cap - self.delay) % cap;
            let mut done = 0;
            // Work in runs where neither index wraps.
            while done < frames {
                let run = (frames - done).min(cap - write).min(cap - read);
                run_in_place(ring, read, write, &mut samples[done..done + run]);
                done += run;
                write = if write + run == cap { 0 } else { write + run };
                read = if read + run == cap { 0 } else { read + run };
            }
        }
        self.write_pos = (self.write_pos + frames) % cap;
    }

    /// Writes `src` delayed into `dst` (both with `channels()` channels)
    /// over `frames` frames, leaving `src` untouched: the same as copying and
    /// then [`DelayLine::process`], one copy cheaper.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    pub fn process_from(&mut self, src: &AudioBuf, dst: &mut AudioBuf, frames: usize) {
        if self.delay == 0 {
            for ch in 0..self.channels {
                dst.channel_mut(ch)[..frames].copy_from_slice(&src.channel(ch)[..frames]);
            }
            return;
        }
        let cap = self.capacity;
        for ch in 0..self.channels {
            let ring = &mut self.ring[ch * cap..(ch + 1) * cap];
            let (input, output) = (&src.channel(ch)[..frames], &mut dst.channel_mut(ch)[..frames]);
            let mut write = self.write_pos;
            let mut read = (write + cap - self.delay) % cap;
            let mut done = 0;
            while done < frames {
                let run = (frames - done).min(cap - write).min(cap - read);
                run_from(ring, read, write, &input[done..done + run], &mut output[done..done + run]);
                done += run;
                write = if write + run == cap { 0 } else { write + run };
                read = if read + run == cap { 0 } else { read + run };
            }
        }
        self.write_pos = (self.write_pos + frames) % cap;
    }

    /// Writes (`first`) or adds `gain ·` the delayed `src` into `dst`, both
    /// with `channels()` channels: the same values as [`Self::process_from`]
    /// into a scratch buffer and then [`crate::audio_buf::write_into`] /
    /// [`crate::audio_buf::mix_into`] from it, bit for bit, without the
    /// scratch. The delayed signal is the ring's history for the first
    /// `delay` frames and `src` itself after that; `src` then goes into the
    /// ring as `process_from` leaves it.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    pub fn mix_from(&mut self, src: &AudioBuf, dst: &mut AudioBuf, frames: usize, gain: f32, first: bool) {
        use crate::audio_buf::{add_scaled, write_scaled};
        let put = |from: &[f32], to: &mut [f32]| if first { write_scaled(from, to, gain) } else { add_scaled(from, to, gain) };
        let (cap, delay, write) = (self.capacity, self.delay, self.write_pos);
        if delay == 0 {
            // No delay: the input itself (a zero delay never writes its ring).
            for ch in 0..self.channels {
                put(&src.channel(ch)[..frames], &mut dst.channel_mut(ch)[..frames]);
            }
            return;
        }
        let from_ring = delay.min(frames);
        // The oldest sample still wanted sits `delay` slots behind the write
        // position; it runs to the end of the ring at most once.
        let read = if write >= delay { write - delay } else { write + cap - delay };
        let first_run = from_ring.min(cap - read);
        // The newest min(frames, cap) input samples are all the ring keeps.
        let kept = frames.min(cap);
        let start = (write + frames - kept) % cap;
        let store_run = kept.min(cap - start);
        for ch in 0..self.channels {
            let ring = &mut self.ring[ch * cap..(ch + 1) * cap];
            let (input, output) = (&src.channel(ch)[..frames], &mut dst.channel_mut(ch)[..frames]);
            put(&ring[read..read + first_run], &mut output[..first_run]);
            put(&ring[..from_ring - first_run], &mut output[first_run..from_ring]);
            put(&input[..frames - from_ring], &mut output[from_ring..]);
            let newest = &input[frames - kept..];
            ring[start..start + store_run].copy_from_slice(&newest[..store_run]);
            ring[..kept - store_run].copy_from_slice(&newest[store_run..]);
        }
        self.write_pos = (write + frames) % cap;
    }

    /// Delays one sample of one channel. Call [`DelayLine::advance`] once after
    /// every channel of a frame has been pushed.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub fn tick(&mut self, ch: usize, input: f32) -> f32 {
        if self.delay == 0 {
            return input;
        }
        let base = ch * self.capacity;
        let read = if self.write_pos >= self.delay { self.write_pos - self.delay } else { self.write_pos + self.capacity - self.delay };
        let out = self.ring[base + read];
        self.ring[base + self.write_pos] = input;
        out
    }

    /// Moves to the next frame after [`DelayLine::tick`] calls.
    #[inline]
    pub fn advance(&mut self) {
        if self.delay != 0 {
            self.write_pos += 1;
            if self.write_pos == self.capacity {
                self.write_pos = 0;
            }
        }
    }
}

/// Runs shorter than this go frame by frame: slicing costs more than it saves.
const MIN_SLICED_RUN: usize = 8;

/// One run of [`DelayLine::process`] on one channel, neither index wrapping:
/// as if frame by frame, `chunk[j]` takes `ring[read + j]` and its old value
/// goes to `ring[write + j]`. Done as whole-slice copies and swaps (which
/// vectorise) wherever the read and write regions allow.
/// Runs on the audio thread: no allocation, no locks.
fn run_in_place(ring: &mut [f32], read: usize, write: usize, chunk: &mut [f32]) {
    let run = chunk.len();
    if read == write {
        // delay == capacity: the oldest sample sits where the newest goes.
        ring[write..write + run].swap_with_slice(chunk);
    } else if read < write && write - read < run {
        // The run reads what it writes itself `delay` frames later: the
        // output is the ring's last `delay` samples, then the input shifted.
        let delay = write - read;
        ring[write..write + run].copy_from_slice(chunk);
        chunk.copy_within(..run - delay, delay);
        chunk[..delay].copy_from_slice(&ring[read..write]);
    } else {
        // Every slot is read before the run overwrites it. Regions that
        // overlap (write just behind read) go in steps no longer than their
        // distance, so each step's two regions are disjoint.
        let step = if read < write { run } else { (read - write).min(run) };
        if step < MIN_SLICED_RUN {
            for (j, s) in chunk.iter_mut().enumerate() {
                let out = ring[read + j];
                ring[write + j] = *s;
                *s = out;
            }
            return;
        }
        for (k, part) in chunk.chunks_mut(step).enumerate() {
            let (from, to) = disjoint(ring, read + k * step, write + k * step, part.len());
            for ((s, r), w) in part.iter_mut().zip(from.iter()).zip(to.iter_mut()) {
                *w = *s;
                *s = *r;
            }
        }
    }
}

/// One run of [`DelayLine::process_from`] on one channel: as
/// [`run_in_place`] with the input and output apart.
/// Runs on the audio thread: no allocation, no locks.
fn run_from(ring: &mut [f32], read: usize, write: usize, input: &[f32], output: &mut [f32]) {
    let run = input.len();
    if read < write && write - read < run {
        let delay = write - read;
        output[..delay].copy_from_slice(&ring[read..write]);
        output[delay..].copy_from_slice(&input[..run - delay]);
    } else {
        // Every slot is read before the run overwrites it.
        output.copy_from_slice(&ring[read..read + run]);
    }
    ring[write..write + run].copy_from_slice(input);
}

/// `(ring[read..read + len], ring[write..write + len])`, which must not overlap.
fn disjoint(ring: &mut [f32], read: usize, write: usize, len: usize) -> (&[f32], &mut [f32]) {
    if read < write {
        let (a, b) = ring.split_at_mut(write);
        (&a[read..read + len], &mut b[..len])
    } else {
        let (a, b) = ring.split_at_mut(read);
        (&b[..len], &mut a[write..write + len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn impulse(frames: usize, at: usize) -> AudioBuf {
        let mut buf = AudioBuf::new(2, frames);
        buf.channel_mut(0)[at] = 1.0;
        buf.channel_mut(1)[at] = -1.0;
        buf
    }

    #[test]
    fn impulse_lands_delay_samples_later_across_block_boundaries() {
        // Impulse at frame 3, delay 5, processed in blocks of 2: output at 8.
        let mut line = DelayLine::new(2, 5, 5);
        let input = impulse(16, 3);
        let mut out = vec![0.0; 16];
        let mut block = AudioBuf::new(2, 2);
        for start in (0..16).step_by(2) {
            for ch in 0..2 {
                block.channel_mut(ch).copy_from_slice(&input.channel(ch)[start..start + 2]);
            }
            line.process(&mut block, 2);
            out[start..start + 2].copy_from_slice(&block.channel(0)[..2]);
        }
        let expected: Vec<f32> = (0..16).map(|i| if i == 8 { 1.0 } else { 0.0 }).collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn process_from_matches_copy_then_process() {
        for (delay, capacity) in [(5, 5), (3, 9), (0, 4)] {
            let mut a = DelayLine::new(2, delay, capacity);
            let mut b = a.clone();
            let mut src = AudioBuf::new(2, 7);
            let mut via_copy = AudioBuf::new(2, 7);
            let mut direct = AudioBuf::new(2, 7);
            for round in 0..5 {
                for ch in 0..2 {
                    for (i, s) in src.channel_mut(ch).iter_mut().enumerate() {
                        *s = (round * 100 + ch * 10 + i) as f32;
                    }
                }
                via_copy.copy_from(&src, 7);
                a.process(&mut via_copy, 7);
                b.process_from(&src, &mut direct, 7);
                assert_eq!(via_copy.channel(0), direct.channel(0), "delay {delay}/{capacity}, round {round}");
                assert_eq!(via_copy.channel(1), direct.channel(1));
            }
        }
    }

    #[test]
    fn tick_matches_block_processing() {
        let mut a = DelayLine::new(1, 3, 7);
        let mut b = a.clone();
        let mut buf = AudioBuf::new(1, 10);
        for (i, s) in buf.channel_mut(0).iter_mut().enumerate() {
            *s = i as f32 + 1.0;
        }
        let ticked: Vec<f32> = buf.channel(0).iter().map(|&x| {
            let y = b.tick(0, x);
            b.advance();
            y
        }).collect();
        a.process(&mut buf, 10);
        assert_eq!(buf.channel(0), &ticked[..]);
        assert_eq!(&ticked[..5], &[0.0, 0.0, 0.0, 1.0, 2.0]);
    }

    #[test]
    fn block_processing_equals_ticking_for_every_delay_and_slicing() {
        // Every delay from 0 to the capacity (short ones feed back inside a
        // run, long ones overlap read and write regions the other way), in
        // blocks of uneven sizes that wrap the ring at every offset.
        let capacity = 40;
        for delay in 0..=capacity {
            let mut ticked = DelayLine::new(2, delay, capacity);
            let mut in_place = ticked.clone();
            let mut from = ticked.clone();
            let mut n = 0;
            for &frames in [1, 37, 64, 5, 13, 64, 2, 64, 29].iter().cycle().take(40) {
                let mut src = AudioBuf::new(2, frames);
                for ch in 0..2 {
                    for s in src.channel_mut(ch).iter_mut() {
                        n += 1;
                        *s = if ch == 0 { n as f32 } else { -(n as f32) };
                    }
                }
                let mut expected = src.clone();
                for i in 0..frames {
                    for ch in 0..2 {
                        let y = ticked.tick(ch, src.channel(ch)[i]);
                        expected.channel_mut(ch)[i] = y;
                    }
                    ticked.advance();
                }
                let mut a = src.clone();
                in_place.process(&mut a, frames);
                let mut b = AudioBuf::new(2, frames);
                from.process_from(&src, &mut b, frames);
                for ch in 0..2 {
                    assert_eq!(a.channel(ch), expected.channel(ch), "process, delay {delay}");
                    assert_eq!(b.channel(ch), expected.channel(ch), "process_from, delay {delay}");
                }
            }
        }
    }

    /// Feeds 1, 2, 3, … through a line, one sample per tick.
    fn run(line: &mut DelayLine, from: usize, count: usize) -> Vec<f32> {
        (from..from + count)
            .map(|n| {
                let out = line.tick(0, n as f32);
                line.advance();
                out
            })
            .collect()
    }

    #[test]
    fn take_over_keeps_the_history_when_the_delay_grows_or_shrinks() {
        // 20 samples (1…20) through a 4-sample line: it holds 17, 18, 19, 20.
        let mut old = DelayLine::new(1, 4, 4);
        run(&mut old, 1, 20);
        // Longer (6): the next outputs are the samples written 6, 5, … ago:
        // 15 and 16 were never stored (the gap is the difference, 2), then
        // 17…20 come out, then the new input 21, 22, …
        let mut longer = DelayLine::new(1, 6, 6);
        longer.take_over(&mut old.clone());
        assert_eq!(run(&mut longer, 21, 8), vec![0.0, 0.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0]);
        // Shorter (2): 19 and 20 come out at once (17 and 18 are skipped).
        let mut shorter = DelayLine::new(1, 2, 2);
        shorter.take_over(&mut old.clone());
        assert_eq!(run(&mut shorter, 21, 4), vec![19.0, 20.0, 21.0, 22.0]);
        // Same length: an exact continuation.
        let mut same = DelayLine::new(1, 4, 4);
        same.take_over(&mut old);
        assert_eq!(run(&mut same, 21, 5), vec![17.0, 18.0, 19.0, 20.0, 21.0]);
    }

    #[test]
    fn mixing_from_the_ring_is_the_delayed_signal_and_leaves_the_ring_as_process_from() {
        // Against the definition y[n] = x[n − delay] (0 before the start),
        // for delays up to the capacity, blocks shorter and longer than the
        // delay and the ring, written and added at a gain; calls alternate
        // with process_from so both leave the ring in the same state.
        for (delay, capacity) in [(0, 0), (0, 16), (1, 1), (3, 8), (8, 8), (5, 40), (72, 100), (100, 100)] {
            for block in [1, 4, 7, 64, 150] {
                let total = 400;
                let x = |n: usize, ch: usize| ((n * 7 + ch * 3) % 23) as f32 - 11.0;
                let mut line = DelayLine::new(2, delay, capacity);
                let (mut n, mut call) = (0, 0);
                while n < total {
                    let len = block.min(total - n);
                    let mut src = AudioBuf::new(2, len);
                    for ch in 0..2 {
                        for (j, s) in src.channel_mut(ch).iter_mut().enumerate() {
                            *s = x(n + j, ch);
                        }
                    }
                    let mut dst = AudioBuf::new(2, len);
                    let (first, gain) = (call % 3 != 1, [1.0, 0.5, -2.0][call % 3]);
                    let prior = 0.25;
                    if !first {
                        dst.channel_mut(0).fill(prior);
                        dst.channel_mut(1).fill(prior);
                    }
                    if call % 4 == 3 {
                        let mut scratch = AudioBuf::new(2, len);
                        line.process_from(&src, &mut scratch, len);
                        if first {
                            crate::audio_buf::write_into(&scratch, &mut dst, len, gain);
                        } else {
                            crate::audio_buf::mix_into(&scratch, &mut dst, len, gain);
                        }
                    } else {
                        line.mix_from(&src, &mut dst, len, gain, first);
                    }
                    for ch in 0..2 {
                        for j in 0..len {
                            let delayed = if n + j >= delay { x(n + j - delay, ch) } else { 0.0 };
                            let want = if first { delayed * gain } else { prior + delayed * gain };
                            assert_eq!(dst.channel(ch)[j], want, "delay {delay} cap {capacity} block {block} frame {}", n + j);
                        }
                    }
                    n += len;
                    call += 1;
                }
            }
        }
    }
}
