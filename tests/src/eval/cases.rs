//! The instructions of the evaluation, by category. `offline: true` marks what the offline
//! assistant's documented English (the README's table) covers; the rest is there for models,
//! and for the offline assistant to grow into.

use chrono::Weekday;

use super::{Case, Outcome, Seed};

/// The case's outcome is judged by these checks, all of which must hold.
fn all(checks: &[Result<(), String>]) -> Result<(), String> {
    checks.iter().cloned().collect()
}

fn case(
    category: &'static str,
    offline: bool,
    seed: Vec<Seed>,
    say: &[&'static str],
    check: fn(&Outcome) -> Result<(), String>,
) -> Case {
    Case {
        category,
        offline,
        zone: "America/New_York",
        seed,
        say: say.to_vec(),
        check,
    }
}

fn in_zone(zone: &'static str, mut case: Case) -> Case {
    case.zone = zone;
    case
}

/// A list with something in every state: overdue, due today, tomorrow, later, done, untimed.
fn mixed_list() -> Vec<Seed> {
    vec![
        Seed::open("pay electricity bill").due(-2).priority("high"),
        Seed::open("call the plumber").due(0).tags(&["home"]),
        Seed::open("write quarterly report").due(1).tags(&["work"]),
        Seed::open("book flights").due(20).priority("low"),
        Seed::done("renew library card").due(-1),
        Seed::open("read a novel"),
    ]
}

/// Every case.
pub fn all_cases() -> Vec<Case> {
    let mut cases = adding();
    cases.extend(listing());
    cases.extend(changing());
    cases.extend(conversation());
    cases.extend(zones_and_typos());
    cases
}

fn adding() -> Vec<Case> {
    vec![
        case("add", true, vec![], &["add buy milk"], |o| {
            all(&[o.completed("buy milk", false), o.no_due("buy milk")])
        }),
        case("add", true, vec![], &["add buy milk tomorrow"], |o| {
            o.due_at("buy milk", o.day(1), "17:00")
        }),
        case(
            "add",
            true,
            vec![],
            &["add call mum tomorrow at 9am"],
            |o| o.due_at("call mum", o.day(1), "09:00"),
        ),
        case(
            "add",
            true,
            vec![],
            &["add write report by friday 5pm"],
            |o| o.due_at("write report", o.coming(Weekday::Fri), "17:00"),
        ),
        case(
            "add",
            true,
            vec![],
            &["add pay rent on the 1st of january"],
            |o| o.due_at("pay rent", o.next_date(1, 1), "17:00"),
        ),
        case(
            "add",
            true,
            vec![],
            &["add submit invoice december 24"],
            |o| o.due_at("submit invoice", o.next_date(12, 24), "17:00"),
        ),
        case(
            "add",
            true,
            vec![],
            &["add team lunch friday at 12:30"],
            |o| o.due_at("team lunch", o.coming(Weekday::Fri), "12:30"),
        ),
        case(
            "add",
            true,
            vec![],
            &["remind me to water the plants in 3 days"],
            |o| o.due_at("water the plants", o.day(3), "17:00"),
        ),
        case(
            "add",
            true,
            vec![],
            &["add book the dentist next monday high priority"],
            |o| {
                all(&[
                    o.due_at("book the dentist", o.coming(Weekday::Mon), "17:00"),
                    o.priority("book the dentist", "high"),
                ])
            },
        ),
        case(
            "add",
            true,
            vec![],
            &["add file taxes urgent #finance"],
            |o| {
                all(&[
                    o.priority("file taxes", "high"),
                    o.tags("file taxes", &["finance"]),
                ])
            },
        ),
        case(
            "add",
            true,
            vec![],
            &["create a task to renew my passport tagged admin, travel"],
            |o| o.tags("renew my passport", &["admin", "travel"]),
        ),
        case(
            "add",
            true,
            vec![],
            &["I need to call the bank tomorrow, low priority"],
            |o| {
                all(&[
                    o.due_at("call the bank", o.day(1), "17:00"),
                    o.priority("call the bank", "low"),
                ])
            },
        ),
        case("add", true, vec![], &["Add Buy Eggs!"], |o| {
            o.completed("Buy Eggs", false)
        }),
        case("add", false, vec![], &["add buy milk and call mum"], |o| {
            all(&[o.task("buy milk").map(drop), o.task("call mum").map(drop)])
        }),
    ]
}

fn listing() -> Vec<Case> {
    vec![
        case("list", true, mixed_list(), &["what's still open?"], |o| {
            o.reply_names(
                &["pay electricity bill", "call the plumber", "read a novel"],
                &["renew library card"],
            )
        }),
        case("list", true, mixed_list(), &["show my tasks"], |o| {
            o.reply_names(&["renew library card", "book flights"], &[])
        }),
        case(
            "list",
            true,
            mixed_list(),
            &["what have I finished?"],
            |o| o.reply_names(&["renew library card"], &["read a novel"]),
        ),
        case("list", true, mixed_list(), &["show overdue tasks"], |o| {
            o.reply_names(
                &["pay electricity bill"],
                &["renew library card", "book flights", "read a novel"],
            )
        }),
        case("list", true, mixed_list(), &["what's due today?"], |o| {
            o.reply_names(
                &["call the plumber"],
                &["write quarterly report", "pay electricity bill"],
            )
        }),
        case(
            "list",
            true,
            mixed_list(),
            &["anything due tomorrow?"],
            |o| o.reply_names(&["write quarterly report"], &["call the plumber"]),
        ),
        case(
            "list",
            true,
            mixed_list(),
            &["show tasks tagged work"],
            |o| o.reply_names(&["write quarterly report"], &["call the plumber"]),
        ),
        case(
            "list",
            true,
            mixed_list(),
            &["list high priority tasks"],
            |o| o.reply_names(&["pay electricity bill"], &["book flights"]),
        ),
        case("list", true, mixed_list(), &["find report"], |o| {
            o.reply_names(&["write quarterly report"], &["book flights"])
        }),
        case(
            "list",
            true,
            mixed_list(),
            &["search for tasks about flights"],
            |o| o.reply_names(&["book flights"], &["read a novel"]),
        ),
        case(
            "list",
            true,
            mixed_list(),
            &["any low priority tasks?"],
            |o| o.reply_names(&["book flights"], &["pay electricity bill"]),
        ),
        case("list", true, vec![], &["what's still open?"], |o| {
            if o.reply().trim().is_empty() {
                Err("no reply".to_owned())
            } else {
                Ok(())
            }
        }),
        case(
            "list",
            false,
            mixed_list(),
            &["how many tasks do I have left?"],
            |o| {
                if o.reply().contains('5') || o.reply().to_lowercase().contains("five") {
                    Ok(())
                } else {
                    Err(format!(
                        "the count of open tasks (5) is not in: {}",
                        o.reply()
                    ))
                }
            },
        ),
        case(
            "list",
            true,
            mixed_list(),
            &["what's due this week?"],
            |o| {
                o.reply_names(
                    &["call the plumber"],
                    &["book flights", "pay electricity bill"],
                )
            },
        ),
    ]
}

fn changing() -> Vec<Case> {
    let two = || vec![Seed::open("buy milk"), Seed::open("call mum").due(2)];
    vec![
        case("complete", true, two(), &["complete buy milk"], |o| {
            all(&[
                o.completed("buy milk", true),
                o.completed("call mum", false),
            ])
        }),
        case("complete", true, two(), &["I finished buy milk"], |o| {
            o.completed("buy milk", true)
        }),
        case("complete", true, two(), &["mark call mum as done"], |o| {
            o.completed("call mum", true)
        }),
        case("complete", true, two(), &["buy milk is done."], |o| {
            o.completed("buy milk", true)
        }),
        case("complete", true, two(), &["done with call mum"], |o| {
            o.completed("call mum", true)
        }),
        case(
            "complete",
            true,
            two(),
            &["I finished buy milk and call mum"],
            |o| all(&[o.completed("buy milk", true), o.completed("call mum", true)]),
        ),
        case(
            "reopen",
            true,
            vec![Seed::done("buy milk")],
            &["reopen buy milk"],
            |o| o.completed("buy milk", false),
        ),
        case(
            "reopen",
            true,
            vec![Seed::done("buy milk")],
            &["mark buy milk as not done"],
            |o| o.completed("buy milk", false),
        ),
        case(
            "rename",
            true,
            two(),
            &["rename buy milk to buy oat milk"],
            |o| all(&[o.task("buy oat milk").map(drop), o.missing("buy milk")]),
        ),
        case(
            "rename",
            true,
            two(),
            &["change the title of call mum to call mum back"],
            |o| o.task("call mum back").map(drop),
        ),
        case(
            "reschedule",
            true,
            two(),
            &["move call mum to next monday"],
            |o| o.due_at("call mum", o.coming(Weekday::Mon), "17:00"),
        ),
        case(
            "reschedule",
            true,
            two(),
            &["postpone call mum by 2 days"],
            |o| o.due_at("call mum", o.day(4), "17:00"),
        ),
        case(
            "reschedule",
            true,
            two(),
            &["reschedule buy milk to friday at 9am"],
            |o| o.due_at("buy milk", o.coming(Weekday::Fri), "09:00"),
        ),
        case(
            "reschedule",
            true,
            two(),
            &["push call mum to jan 15"],
            |o| o.due_at("call mum", o.next_date(1, 15), "17:00"),
        ),
        case(
            "reschedule",
            false,
            two(),
            &["call mum is due tomorrow now"],
            |o| o.due_at("call mum", o.day(1), "17:00"),
        ),
        case(
            "priority",
            true,
            two(),
            &["make buy milk high priority"],
            |o| o.priority("buy milk", "high"),
        ),
        case(
            "priority",
            true,
            two(),
            &["set the priority of call mum to low"],
            |o| o.priority("call mum", "low"),
        ),
        case("priority", true, two(), &["prioritize call mum"], |o| {
            o.priority("call mum", "high")
        }),
        case(
            "priority",
            false,
            two(),
            &["buy milk isn't important"],
            |o| o.priority("buy milk", "low"),
        ),
        case("delete", true, two(), &["delete buy milk"], |o| {
            all(&[o.missing("buy milk"), o.task("call mum").map(drop)])
        }),
        case("delete", true, two(), &["remove the task call mum"], |o| {
            o.missing("call mum")
        }),
        case("delete", true, two(), &["get rid of buy milk"], |o| {
            o.missing("buy milk")
        }),
        case(
            "delete",
            true,
            vec![Seed::open("a1"), Seed::open("b2"), Seed::open("c3")],
            &["delete a1, b2 and c3"],
            |o| all(&[o.missing("a1"), o.missing("b2"), o.missing("c3")]),
        ),
    ]
}

fn conversation() -> Vec<Case> {
    let reports = || vec![Seed::open("report for Anna"), Seed::open("report for Ben")];
    vec![
        case("ambiguous", true, reports(), &["complete report"], |o| {
            all(&[
                o.unchanged(&[("report for Anna", false), ("report for Ben", false)]),
                o.reply_names(&["report for Anna", "report for Ben"], &[]),
            ])
        }),
        case(
            "ambiguous",
            true,
            reports(),
            &["complete report", "the one for Ben"],
            |o| {
                all(&[
                    o.completed("report for Ben", true),
                    o.completed("report for Anna", false),
                ])
            },
        ),
        case(
            "ambiguous",
            true,
            reports(),
            &["complete report", "complete report for Ben"],
            |o| {
                all(&[
                    o.completed("report for Ben", true),
                    o.completed("report for Anna", false),
                ])
            },
        ),
        case(
            "follow-up",
            true,
            vec![],
            &["add buy milk", "mark it done"],
            |o| o.completed("buy milk", true),
        ),
        case(
            "follow-up",
            true,
            vec![Seed::open("alpha").due(1), Seed::open("beta").due(2)],
            &["what's still open?", "complete the second one"],
            |o| all(&[o.completed("beta", true), o.completed("alpha", false)]),
        ),
        case(
            "follow-up",
            true,
            vec![],
            &["add buy milk", "make buy milk high priority"],
            |o| o.priority("buy milk", "high"),
        ),
        case(
            "follow-up",
            true,
            vec![Seed::open("alpha").due(1), Seed::open("beta").due(2)],
            &["what's still open?", "delete the last one"],
            |o| all(&[o.missing("beta"), o.task("alpha").map(drop)]),
        ),
        case(
            "follow-up",
            true,
            vec![Seed::open("water plants")],
            &["complete water plants", "reopen it"],
            |o| o.completed("water plants", false),
        ),
        case("help", true, vec![], &["what can you do?"], |o| {
            let reply = o.reply().to_lowercase();
            if reply.contains("add") && o.tasks.is_empty() {
                Ok(())
            } else {
                Err(format!("not a help answer: {}", o.reply()))
            }
        }),
        case("help", true, mixed_list(), &["help"], |o| {
            o.reply_names(&[], &["pay electricity bill"])
        }),
    ]
}

fn zones_and_typos() -> Vec<Case> {
    vec![
        in_zone(
            "Pacific/Kiritimati",
            case("zones", true, vec![], &["add call grandpa tomorrow"], |o| {
                o.due_at("call grandpa", o.day(1), "17:00")
            }),
        ),
        in_zone(
            "Pacific/Pago_Pago",
            case(
                "zones",
                true,
                vec![],
                &["add send card today at 11pm"],
                |o| o.due_at("send card", o.day(0), "23:00"),
            ),
        ),
        in_zone(
            "Asia/Tokyo",
            case(
                "zones",
                true,
                vec![
                    Seed::open("tokyo task").due(0),
                    Seed::open("later task").due(1),
                ],
                &["what's due today?"],
                |o| o.reply_names(&["tokyo task"], &["later task"]),
            ),
        ),
        in_zone(
            "Europe/London",
            case(
                "zones",
                true,
                vec![Seed::open("midnight task")],
                &["move midnight task to tomorrow at midnight"],
                |o| o.due_at("midnight task", o.day(1), "23:59"),
            ),
        ),
        case("typos", true, vec![], &["ad buy milk"], |o| {
            o.task("buy milk").map(drop)
        }),
        case(
            "typos",
            true,
            vec![Seed::open("buy milk")],
            &["complet buy milk"],
            |o| o.completed("buy milk", true),
        ),
        case(
            "typos",
            false,
            vec![Seed::open("buy milk")],
            &["complete by milk"],
            |o| o.completed("buy milk", true),
        ),
        case("typos", true, vec![], &["please add buy bread."], |o| {
            o.task("buy bread").map(drop)
        }),
    ]
}
