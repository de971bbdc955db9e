//! The 50 test bodies, written once against the HTTP API, in 5 modules of 10, and
//! [`realapp_tests!`](crate::realapp_tests), which defines them as `#[tokio::test]`s in a test
//! binary on the `spawn_app` it is given.
//!
//! Each body registers and logs in the users it needs (argon2 at its default cost, as the app
//! ships it) and checks status codes, JSON, seeded rows and that one user's data is not another's.
//! None depends on another having run: in every scope each starts from the migrated database.

pub mod accounts;
pub mod isolation;
pub mod projects;
pub mod sessions;
pub mod tasks;

/// Defines the 50 tests in modules `accounts`, `sessions`, `projects`, `tasks` and
/// `isolation` (10 each); each test serves the app with `spawn_app` (an expression giving a
/// future of a `TestApp`) and runs its body. Attributes given before `spawn_app` (an
/// `#[ignore]`) go on every test.
#[macro_export]
macro_rules! realapp_tests {
    ($(#[$attr:meta])* spawn_app = $spawn:expr;) => {
        $crate::realapp_tests!(@modules [$(#[$attr])*] [$spawn]
            accounts {
                health_check_works public_settings_are_seeded registers_a_user
                rejects_a_duplicate_email rejects_a_short_password rejects_an_invalid_email
                rejects_malformed_json registration_creates_a_personal_workspace
                the_demo_user_is_seeded registration_is_audited
            }
            sessions {
                logs_in_with_the_right_password rejects_a_wrong_password
                rejects_an_unknown_email me_needs_a_session rejects_a_made_up_token
                logout_ends_the_session two_logins_are_two_sessions
                login_ignores_the_case_of_the_email expired_sessions_are_refused
                passwords_are_stored_hashed
            }
            projects {
                a_new_user_sees_no_projects creates_a_project project_names_are_unique
                rejects_an_empty_project_name cannot_create_in_another_organisation
                the_demo_project_is_seeded another_user_cannot_see_my_project
                project_ids_continue_after_the_seed projects_are_listed_in_order
                the_project_limit_comes_from_settings
            }
            tasks {
                creates_a_task lists_the_tasks_of_a_project completes_a_task
                completing_twice_conflicts rejects_an_empty_title
                tasks_of_an_invisible_project_are_not_found
                cannot_complete_another_users_task tasks_carry_tags
                the_demo_tasks_are_seeded comments_on_a_task
            }
            isolation {
                the_roles_are_seeded only_the_demo_user_exists_at_first
                deletes_the_demo_project the_demo_project_is_there closes_sign_up
                sign_up_is_open a_member_sees_the_organisations_projects
                a_viewer_cannot_create_projects a_member_cannot_add_members
                the_audit_log_is_private
            }
        );
    };
    (@modules $attrs:tt $spawn:tt $($module:ident { $($test:ident)* })*) => {$(
        mod $module {
            $($crate::realapp_tests!(@test $attrs $spawn $module $test);)*
        }
    )*};
    (@test [$($attr:tt)*] [$spawn:expr] $module:ident $test:ident) => {
        $($attr)*
        #[tokio::test]
        async fn $test() {
            $crate::common::bodies::$module::$test($spawn.await).await;
        }
    };
}
