//! One text front end per language, made on first use and shared.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kokoro_text::{Frontend, G2p, Lang, Lexicon, OovFallback};

use crate::Result;

/// The front ends of every language spoken so far, each made once (English
/// loads misaki's lexicons and tagger: about 0.4 s and 100 MB), all with the
/// same out-of-lexicon fallback and user lexicon. Cheap to clone.
#[derive(Clone)]
pub struct Frontends {
    inner: Arc<Inner>,
}

struct Inner {
    fallback: Arc<dyn OovFallback>,
    lexicon: Lexicon,
    made: Mutex<HashMap<Lang, Arc<Frontend>>>,
}

impl std::fmt::Debug for Frontends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frontends").finish_non_exhaustive()
    }
}

impl Frontends {
    /// Front ends that send unknown words to `fallback` and look words up in
    /// `lexicon` first.
    pub fn new(fallback: Arc<dyn OovFallback>, lexicon: Lexicon) -> Self {
        Self {
            inner: Arc::new(Inner {
                fallback,
                lexicon,
                made: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The front end of `lang`, made now if it is the first time.
    pub fn get(&self, lang: Lang) -> Result<Arc<Frontend>> {
        let mut made = self
            .inner
            .made
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(f) = made.get(&lang) {
            return Ok(f.clone());
        }
        let g2p =
            G2p::new(lang, self.inner.fallback.clone())?.with_lexicon(self.inner.lexicon.clone());
        let frontend = Arc::new(Frontend::new(g2p));
        made.insert(lang, frontend.clone());
        Ok(frontend)
    }
}

/// The out-of-lexicon fallback of this build: espeak-ng (feature `espeak`), its
/// data installed into `cache_dir`, else letter-by-letter spelling; with a
/// warning when espeak-ng was wanted but could not be installed.
pub fn default_fallback(cache_dir: &std::path::Path) -> (Arc<dyn OovFallback>, Option<String>) {
    #[cfg(feature = "espeak")]
    {
        match kokoro_text::EspeakFallback::install(&cache_dir.join("espeak-ng-data")) {
            Ok(fb) => (Arc::new(fb), None),
            Err(e) => (
                Arc::new(kokoro_text::SpellingFallback),
                Some(format!("{e}; unknown words will be spelled out")),
            ),
        }
    }
    #[cfg(not(feature = "espeak"))]
    {
        let _ = cache_dir;
        (Arc::new(kokoro_text::SpellingFallback), None)
    }
}
