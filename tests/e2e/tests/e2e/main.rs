//! The end-to-end suite: one test binary, one module per area. Every test that involves a store runs on
//! both backends through [`both_backends!`].

/// Turns `async fn name(backend: Backend)` into two tests, `name::postgres` and `name::sqlite`.
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn postgres() {
                super::$name(e2e::Backend::Postgres).await;
            }

            #[tokio::test]
            async fn sqlite() {
                super::$name(e2e::Backend::Sqlite).await;
            }
        }
    )+};
}

#[cfg(test)]
mod bad_input;
#[cfg(test)]
mod deploy;
#[cfg(test)]
mod faults;
#[cfg(test)]
mod lifecycle;
#[cfg(test)]
mod linking;
#[cfg(test)]
mod logs;
#[cfg(test)]
mod metrics;
#[cfg(test)]
mod one_host;
#[cfg(test)]
mod operating;
#[cfg(test)]
mod pages;
#[cfg(test)]
mod proxy;
#[cfg(test)]
mod proxy_access;
#[cfg(test)]
mod proxy_support;
#[cfg(test)]
mod refresh;
#[cfg(test)]
mod rejections;
#[cfg(test)]
mod replicas;
#[cfg(test)]
mod sealing;
#[cfg(test)]
mod service;
#[cfg(test)]
mod skill_controls;
#[cfg(test)]
mod skill_conversation;
#[cfg(test)]
mod skill_safety;
#[cfg(test)]
mod spotify2026;
#[cfg(test)]
mod store;
