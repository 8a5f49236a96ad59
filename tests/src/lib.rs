//! Host-level tests of the bundled plugin live here once the plugin exists;
//! engine tests are in `core/tests`, CLI tests in `cli/tests`.
