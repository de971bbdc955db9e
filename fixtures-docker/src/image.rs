//! Images as types: a ready-made container behind a trait.

use crate::spec::ContainerSpec;

/// An image with its settings, as a type: implement it to offer a ready-made container.
///
/// # Examples
///
/// ```
/// use fixtures_docker::{ContainerSpec, Image, WaitFor};
///
/// struct Redis;
///
/// impl Image for Redis {
///     fn spec(&self) -> ContainerSpec {
///         ContainerSpec::new("redis", "7")
///             .expose(6379)
///             .wait_for(WaitFor::log_line("Ready to accept connections"))
///     }
/// }
/// assert_eq!(Redis.spec().image_ref(), "redis:7");
/// ```
pub trait Image {
    /// The container to start.
    fn spec(&self) -> ContainerSpec;
}

impl Image for ContainerSpec {
    fn spec(&self) -> ContainerSpec {
        self.clone()
    }
}
