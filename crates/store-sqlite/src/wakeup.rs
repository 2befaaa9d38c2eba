//! What wakes the watch poller when another process writes: inotify on the database's
//! directory, for the database file and its `-wal`. A commit appends to the `-wal` (a
//! checkpoint writes the database file), and replacing the file is a create or rename of its
//! name, so any write of another process reaches the poller as an event. The directory is
//! watched rather than the files because the `-wal` is deleted and created again as processes
//! come and go, and a watch on a file follows its inode, not its name.

use std::ffi::OsString;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use inotify::{EventMask, Inotify, WatchMask};

/// An inotify instance watching one database's directory.
pub(crate) struct Wakeup {
    inotify: Inotify,
    /// The names in the directory whose changes matter: the database and its `-wal`.
    names: [OsString; 2],
    buffer: Vec<u8>,
}

impl Wakeup {
    /// Watches the directory of the database at `path`.
    pub(crate) fn watch(path: &Path) -> io::Result<Wakeup> {
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::other("the database path names no file"))?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let inotify = Inotify::init()?;
        inotify.watches().add(
            dir,
            WatchMask::MODIFY
                | WatchMask::CREATE
                | WatchMask::MOVED_TO
                | WatchMask::DELETE
                | WatchMask::CLOSE_WRITE,
        )?;
        let mut wal = name.to_os_string();
        wal.push("-wal");
        Ok(Wakeup {
            inotify,
            names: [name.to_os_string(), wal],
            buffer: vec![0; 4096],
        })
    }

    /// Waits up to `timeout` for a change of the database or its `-wal`; true when one came
    /// (all queued events are consumed). An overflowing queue or a directory that went away
    /// count as a change (look again); false after the timeout.
    pub(crate) fn wait(&mut self, timeout: Duration) -> io::Result<bool> {
        let mut pollfd = libc::pollfd {
            fd: self.inotify.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd for the duration of the call; the descriptor is owned by
        // `self.inotify` and open.
        let ready = unsafe { libc::poll(&mut pollfd, 1, ms) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            return if error.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(error)
            };
        }
        if ready == 0 {
            return Ok(false);
        }
        let Wakeup {
            inotify,
            names,
            buffer,
        } = self;
        let mut changed = false;
        loop {
            match inotify.read_events(buffer) {
                Ok(events) => {
                    for event in events {
                        changed |= event
                            .mask
                            .intersects(EventMask::Q_OVERFLOW | EventMask::IGNORED)
                            || event
                                .name
                                .is_some_and(|n| names.iter().any(|ours| ours == n));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(changed),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
