//! What the viewer remembers between runs (with eframe's window size and panel layout): the
//! paths opened last, what is shown, playback rate and the 2D view's mode.

use std::path::{Path, PathBuf};

use super::playback::Playback;
use super::view2d::View2d;

/// The key under which the settings are stored.
pub const KEY: &str = "hourhand.viewer";

/// How many recent paths each list keeps.
const RECENT: usize = 8;

/// What is drawn.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Show {
    /// The network's prediction (blue joints, green bones).
    pub prediction: bool,
    /// The annotation (yellow joints, red bones).
    pub ground_truth: bool,
    /// All 36 NYU joints instead of the 14 evaluated ones (where a skeleton has them).
    pub all_joints: bool,
    /// The depth point cloud in the 3D view.
    pub cloud: bool,
    /// Centre the crop on the detected hand even where there is an annotation.
    pub detect: bool,
    /// The network's input, with the skeletons on it, as an inset in the 2D view.
    pub network_input: bool,
}

impl Default for Show {
    fn default() -> Self {
        Show {
            prediction: true,
            ground_truth: true,
            all_joints: false,
            cloud: true,
            detect: false,
            network_input: true,
        }
    }
}

/// Everything remembered.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Sequences opened, newest first.
    pub recent_sources: Vec<PathBuf>,
    /// Weights files opened, newest first.
    pub recent_weights: Vec<PathBuf>,
    /// Results files added, newest first.
    pub recent_results: Vec<PathBuf>,
    /// Where the file dialogs start.
    pub last_dir: Option<PathBuf>,
    /// What is drawn.
    pub show: Show,
    /// Playback rate and looping.
    pub playback: Playback,
    /// The 2D view's mode.
    pub view2d: View2d,
}

impl Settings {
    /// Puts `path` first in `list` (once), remembering its folder for the dialogs.
    pub fn remember(list: &mut Vec<PathBuf>, last_dir: &mut Option<PathBuf>, path: &Path) {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        list.retain(|p| p != &path);
        list.insert(0, path.clone());
        list.truncate(RECENT);
        // A sequence is a folder and a weights or results file sits in one: either way the
        // next dialog starts beside it.
        *last_dir = path.parent().map(Path::to_path_buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_paths_are_unique_newest_first_and_bounded() {
        let mut list = Vec::new();
        let mut dir = None;
        for i in 0..10 {
            Settings::remember(&mut list, &mut dir, Path::new(&format!("/data/s{i}")));
        }
        Settings::remember(&mut list, &mut dir, Path::new("/data/s5"));
        assert_eq!(list.len(), RECENT);
        assert_eq!(list[0], Path::new("/data/s5"));
        assert_eq!(list.iter().filter(|p| p.ends_with("s5")).count(), 1);
        assert_eq!(dir.as_deref(), Some(Path::new("/data")));
    }

    #[test]
    fn settings_survive_a_round_trip_and_missing_fields() {
        let mut s = Settings::default();
        s.show.all_joints = true;
        s.playback.fps = 30.0;
        let json = serde_json::to_string(&s).unwrap();
        let back: Settings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        // Settings written by an older version lack fields: the defaults fill them in.
        let old: Settings = serde_json::from_str(r#"{"show":{"cloud":false}}"#).unwrap();
        assert!(!old.show.cloud && old.show.prediction);
    }
}
