//! FLAC, MP3 and Ogg Opus, encoded as audio arrives in constant memory, with
//! pure-Rust encoders (flacenc, rusty_mp3, opus-pure).

use std::io::Write;

use crate::{to_i16, Dest, Encoder, Error, Result, SAMPLE_RATE};
use flacenc::bitsink::ByteSink;
use flacenc::component::{BitRepr, Stream};
use flacenc::error::Verify;
use flacenc::source::{Context, Fill, FrameBuf};

fn io_other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Writes bytes and, on a stream, flushes them out at once.
fn emit(dest: &mut Dest, bytes: &[u8]) -> std::io::Result<()> {
    dest.write_all(bytes)?;
    if dest.is_stream() {
        dest.flush()?;
    }
    Ok(())
}

/// FLAC, 16-bit, fixed blocks of 4096 samples.
pub struct FlacEncoder {
    dest: Dest,
    config: flacenc::error::Verified<flacenc::config::Encoder>,
    stream: Stream,
    frame: FrameBuf,
    context: Context,
    pending: Vec<i32>,
    frames: usize,
    sink: ByteSink,
}

const FLAC_BLOCK: usize = 4096;

impl FlacEncoder {
    /// Starts a FLAC stream: writes the header, with the length left unknown
    /// until the end (fixed there when the destination can seek).
    pub fn new(mut dest: Dest) -> Result<Self> {
        let config = flacenc::config::Encoder::default()
            .into_verified()
            .map_err(|(_, e)| Error::codec("flac", e))?;
        let mut stream =
            Stream::new(SAMPLE_RATE as usize, 1, 16).map_err(|e| Error::codec("flac", e))?;
        stream
            .stream_info_mut()
            .set_block_sizes(FLAC_BLOCK, FLAC_BLOCK)
            .map_err(|e| Error::codec("flac", e))?;
        stream
            .stream_info_mut()
            .set_frame_sizes(0, 0)
            .map_err(|e| Error::codec("flac", e))?;
        let mut sink = ByteSink::new();
        stream
            .write(&mut sink)
            .map_err(|e| Error::codec("flac", e))?;
        emit(&mut dest, sink.as_slice())?;
        let frame = FrameBuf::with_size(1, FLAC_BLOCK).map_err(|e| Error::codec("flac", e))?;
        Ok(Self {
            dest,
            config,
            stream,
            frame,
            context: Context::new(16, 1),
            pending: Vec::with_capacity(FLAC_BLOCK),
            frames: 0,
            sink,
        })
    }

    fn encode_pending(&mut self) -> std::io::Result<()> {
        self.frame
            .fill_interleaved(&self.pending)
            .map_err(io_other)?;
        self.context
            .fill_interleaved(&self.pending)
            .map_err(io_other)?;
        let frame = flacenc::encode_fixed_size_frame(
            &self.config,
            &self.frame,
            self.frames,
            self.stream.stream_info(),
        )
        .map_err(io_other)?;
        self.sink.clear();
        frame.write(&mut self.sink).map_err(io_other)?;
        self.frames += 1;
        self.pending.clear();
        emit(&mut self.dest, self.sink.as_slice())
    }
}

impl Encoder for FlacEncoder {
    fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        for &s in samples {
            self.pending.push(i32::from(to_i16(s)));
            if self.pending.len() == FLAC_BLOCK {
                self.encode_pending()?;
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Dest> {
        if !self.pending.is_empty() {
            self.encode_pending()?;
        }
        // Total length and MD5 into STREAMINFO (bytes 8..42), where the file can seek.
        let info = self.stream.stream_info_mut();
        info.set_total_samples(self.context.total_samples());
        info.set_md5_digest(&self.context.md5_digest());
        self.sink.clear();
        self.stream
            .stream_info()
            .write(&mut self.sink)
            .map_err(|e| Error::codec("flac", e))?;
        let info = self.sink.as_slice().to_vec();
        self.dest.patch(8, &info)?;
        Ok(self.dest)
    }
}

/// MP3: MPEG-2 layer III at 24 kHz, 64 kbit/s.
pub struct Mp3Encoder {
    dest: Dest,
    encoder: rusty_mp3::Mp3Encoder,
    pcm: Vec<i16>,
}

impl Mp3Encoder {
    /// Starts an MP3 stream.
    pub fn new(dest: Dest) -> Result<Self> {
        let encoder = rusty_mp3::Mp3Encoder::new(rusty_mp3::Mp3EncoderConfig {
            bitrate_kbps: 64,
            vbr_quality: None,
        });
        Ok(Self {
            dest,
            encoder,
            pcm: Vec::new(),
        })
    }

    fn drain(&mut self) -> std::io::Result<()> {
        while let Ok(packet) = self.encoder.next_packet() {
            self.dest.write_all(&packet)?;
        }
        if self.dest.is_stream() {
            self.dest.flush()?;
        }
        Ok(())
    }
}

impl Encoder for Mp3Encoder {
    fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        self.pcm.clear();
        self.pcm.extend(samples.iter().map(|&s| to_i16(s)));
        self.encoder
            .push_pcm_s16(&self.pcm, 1, SAMPLE_RATE)
            .map_err(|e| io_other(format!("mp3: {e:?}")))?;
        self.drain()
    }

    fn finish(mut self: Box<Self>) -> Result<Dest> {
        self.encoder.finish();
        self.drain()?;
        // The first frame is the Info tag: rewrite it with the final counts where possible.
        if let Some(tag) = self.encoder.lame_tag_frame() {
            self.dest.patch(0, tag)?;
        }
        Ok(self.dest)
    }
}

/// Ogg Opus, 20 ms frames, 32 kbit/s (speech), gapless.
pub struct OpusEncoder {
    encoder: opus_pure::OpusEncoder,
    writer: opus_pure::OggOpusWriter<Dest>,
    pre_skip: u16,
    pending: Vec<i16>,
    total: u64,
    packet: Vec<u8>,
}

const OPUS_FRAME: usize = 480;

impl OpusEncoder {
    /// Starts an Ogg Opus stream (OpusHead and OpusTags pages are written at once).
    pub fn new(dest: Dest) -> Result<Self> {
        let mut encoder =
            opus_pure::OpusEncoder::new(SAMPLE_RATE as i32, 1, opus_pure::Application::Audio)
                .map_err(|e| Error::codec("opus", e))?;
        encoder.bitrate_bps = 32_000;
        let head = opus_pure::OpusHead::for_encoder(&encoder, SAMPLE_RATE);
        let pre_skip = head.pre_skip;
        let mut writer =
            opus_pure::OggOpusWriter::new(dest, head).map_err(|e| Error::codec("opus", e))?;
        // Small pages, so that a stream reaches the player as it is made.
        writer.set_page_target(1024);
        Ok(Self {
            encoder,
            writer,
            pre_skip,
            pending: Vec::with_capacity(OPUS_FRAME),
            total: 0,
            packet: vec![0u8; opus_pure::MAX_PACKET_BYTES],
        })
    }

    fn encode_frame(&mut self, duration: Option<u32>) -> std::io::Result<()> {
        let n = self
            .encoder
            .encode_s16(&self.pending, OPUS_FRAME, &mut self.packet)
            .map_err(|e| io_other(format!("opus: {e:?}")))?;
        match duration {
            Some(d) => self.writer.write_packet_with_duration(&self.packet[..n], d),
            None => self.writer.write_packet(&self.packet[..n]),
        }
        .map_err(|e| io_other(format!("opus: {e:?}")))?;
        self.pending.clear();
        Ok(())
    }
}

impl Encoder for OpusEncoder {
    fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        for &s in samples {
            self.pending.push(to_i16(s));
            self.total += 1;
            if self.pending.len() == OPUS_FRAME {
                self.encode_frame(None)?;
            }
        }
        if let Some(dest) = self.writer.get_mut() {
            if dest.is_stream() {
                dest.flush()?;
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Dest> {
        // Pad to whole frames covering the encoder's delay; the last packet's
        // duration tells decoders where the audio really ends.
        let pre_skip = u64::from(self.pre_skip);
        let final_granule = pre_skip + self.total * 2;
        let frames = (self.total + pre_skip.div_ceil(2)).div_ceil(OPUS_FRAME as u64);
        let mut done = self.total / OPUS_FRAME as u64;
        while done < frames {
            self.pending.resize(OPUS_FRAME, 0);
            done += 1;
            if done == frames {
                let d = final_granule.saturating_sub(self.writer.granule().max(0) as u64);
                self.encode_frame(Some(d as u32))?;
            } else {
                self.encode_frame(None)?;
            }
        }
        self.writer.finish().map_err(|e| Error::codec("opus", e))
    }
}
