#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn rule(id: &str, category: Category, language: Option<Language>, terms: &[&str]) -> Rule {
    Rule {
        id: id.to_owned(),
        category,
        language,
        weight: 1.0,
        terms: terms.iter().map(|term| (*term).to_owned()).collect(),
    }
}

fn policies() -> Vec<CategoryPolicy> {
    use Category::*;
    [
        (Cancellation, Destination::Csm, true),
        (Complaint, Destination::Csm, true),
        (FeatureRequest, Destination::Csm, false),
        (FeatureCapability, Destination::Csm, false),
        (Login, Destination::Support, false),
        (UserManagement, Destination::Support, false),
        (HowTo, Destination::Support, false),
        (BasicQuestion, Destination::Support, false),
        (Other, Destination::Support, false),
    ]
    .into_iter()
    .enumerate()
    .map(
        |(precedence, (category, destination, escalate))| CategoryPolicy {
            category,
            destination,
            escalate,
            precedence: precedence as u32,
        },
    )
    .collect()
}

fn sample_rules() -> RoutingRules {
    use Category::*;
    use Language::*;
    RoutingRules::new(
        vec![
            rule(
                "cancel-de",
                Cancellation,
                Some(German),
                &["kuendig", "vertrag", "-ankuendig", "-angekuendig"],
            ),
            rule(
                "cancel-en",
                Cancellation,
                Some(English),
                &["cancel", "not renew"],
            ),
            rule(
                "complaint",
                Complaint,
                None,
                &["beschwerde", "complain", "unzufrieden"],
            ),
            rule(
                "login",
                Login,
                None,
                &["passwort", "password", "^login", "anmeld"],
            ),
            rule(
                "users",
                UserManagement,
                None,
                &["benutzerverwaltung", "^add$ user"],
            ),
            rule(
                "how-to-de",
                HowTo,
                Some(German),
                &["wie kann ich", "wo * ich * aus"],
            ),
            rule("how-to-en", HowTo, Some(English), &["how do i"]),
            rule(
                "wish",
                FeatureRequest,
                None,
                &["funktionswunsch", "feature request"],
            ),
        ],
        policies(),
    )
    .unwrap()
}

fn ticket<'a>(subject: &'a str, body: &'a str) -> Ticket<'a> {
    Ticket {
        subject,
        body,
        category: None,
        language: None,
    }
}

fn route_plain(subject: &str, body: &str) -> Decision {
    route(
        &sample_rules(),
        &ticket(subject, body),
        &AccountContext::default(),
    )
}

#[test]
fn names_round_trip() {
    for category in Category::ALL {
        assert_eq!(Category::parse(category.as_str()), Some(category));
        assert_eq!(Category::ALL[category.index()], category);
    }
    for destination in Destination::ALL {
        assert_eq!(Destination::parse(destination.as_str()), Some(destination));
    }
    for priority in Priority::ALL {
        assert_eq!(Priority::parse(priority.as_str()), Some(priority));
    }
    for language in Language::ALL {
        assert_eq!(Language::parse(language.as_str()), Some(language));
    }
}

#[test]
fn normalizes_case_umlauts_and_punctuation() {
    assert_eq!(normalize("Kündigung!"), "kuendigung");
    assert_eq!(normalize("KUENDIGUNG"), "kuendigung");
    assert_eq!(
        normalize("Straße, GRÖSSE; Größe"),
        "strasse groesse groesse"
    );
    assert_eq!(
        normalize("  Passwort   zurücksetzen?! "),
        "passwort zuruecksetzen"
    );
    assert_eq!(
        normalize("I don't know, it’s café-time"),
        "i dont know its cafe time"
    );
    assert_eq!(normalize("E-Mail: a@b.de (2FA)"), "e mail a b de 2fa");
    assert_eq!(normalize("...!?"), "");
}

#[test]
fn stems_match_inflections_and_compounds() {
    for text in [
        "Kündigung",
        "gekündigt",
        "Vertragskündigung",
        "kuendigen Sie bitte",
    ] {
        let decision = route_plain(text, "");
        assert_eq!(decision.category, Category::Cancellation, "{text}");
        assert_eq!(decision.rule_id.as_deref(), Some("cancel-de"), "{text}");
    }
    assert_eq!(
        route_plain("We are cancelling", "").category,
        Category::Cancellation
    );
    assert_eq!(
        route_plain("Benutzerverwaltungsseite lädt nicht", "").category,
        Category::UserManagement
    );
}

#[test]
fn phrases_match_words_in_a_row() {
    assert_eq!(
        route_plain("Question", "How do I export a report?").category,
        Category::HowTo
    );
    assert_eq!(
        route_plain("Frage", "Wie kann ich einen Bericht exportieren?").category,
        Category::HowTo
    );
    assert_eq!(
        route_plain("Contract", "We will not renew next year.").category,
        Category::Cancellation
    );
    // The words of a phrase must be next to each other.
    assert_eq!(
        route_plain("Question", "How can I do that?").category,
        Category::Other
    );
}

#[test]
fn a_wildcard_stands_for_one_word() {
    for (body, category) in [
        ("Wo stelle ich das aus?", Category::HowTo),
        ("wo schalte ich das ausserdem", Category::HowTo),
        ("Wo ich das aus", Category::Other),
        ("Wo stelle denn ich das aus", Category::Other),
        ("Wo stelle ich das ab?", Category::Other),
    ] {
        assert_eq!(route_plain("Frage", body).category, category, "{body}");
    }
}

#[test]
fn anchors_pin_terms_to_word_boundaries() {
    assert_eq!(
        route_plain("Hi", "Please add users to our team").category,
        Category::UserManagement
    );
    assert_eq!(
        route_plain("Hi", "Please address users of our team").category,
        Category::Other
    );
    assert_eq!(route_plain("Login broken", "").category, Category::Login);
    assert_eq!(route_plain("Our blog", "").category, Category::Other);
}

#[test]
fn exclusions_keep_words_out_of_a_rule() {
    assert_eq!(
        route_plain("Wartung", "Wie angekündigt ab Montag").category,
        Category::Other
    );
    let decision = route_plain("Wartung", "Wie angekündigt kündigen wir");
    assert_eq!(decision.category, Category::Cancellation);
    assert_eq!(
        decision.reason,
        "matched \"kündigen\" (CANCELLATION) → CSM; account health unknown, tier unknown → NORMAL"
    );
}

#[test]
fn subject_outweighs_body() {
    let decision = route_plain("Beschwerde", "Ich will kündigen");
    assert_eq!(decision.category, Category::Complaint);
    let decision = route_plain("Ich will kündigen", "Beschwerde");
    assert_eq!(decision.category, Category::Cancellation);
}

#[test]
fn a_term_counts_once_per_field() {
    let once = route_plain("", "Passwort");
    let thrice = route_plain("", "Passwort Passwort Passwort");
    assert_eq!(once.confidence, thrice.confidence);
}

#[test]
fn ties_go_to_the_lower_precedence() {
    // One body match each for CANCELLATION and COMPLAINT; cancellation comes first.
    let decision = route_plain("", "Beschwerde und Kündigung");
    assert_eq!(decision.category, Category::Cancellation);
    assert!((decision.confidence - 0.5 * (1.0 - (-0.5f64).exp())).abs() < 1e-12);

    let mut swapped = policies();
    for policy in &mut swapped {
        policy.precedence = match policy.category {
            Category::Complaint => 0,
            Category::Cancellation => 1,
            _ => policy.precedence,
        };
    }
    let rules = RoutingRules::new(sample_rules().rules().cloned().collect(), swapped).unwrap();
    let decision = route(
        &rules,
        &ticket("", "Beschwerde und Kündigung"),
        &AccountContext::default(),
    );
    assert_eq!(decision.category, Category::Complaint);
}

#[test]
fn language_rules_apply_to_their_language_only() {
    let english = Ticket {
        language: Some(Language::English),
        ..ticket("Kündigung", "")
    };
    let decision = route(&sample_rules(), &english, &AccountContext::default());
    assert_eq!(decision.category, Category::Other);
    assert_eq!(decision.language, Language::English);
}

#[test]
fn nothing_matched_is_other_for_support_with_no_confidence() {
    let decision = route_plain("Hallo", "Guten Tag");
    assert_eq!(decision.category, Category::Other);
    assert_eq!(decision.destination, Destination::Support);
    assert_eq!(decision.priority, Priority::Normal);
    assert_eq!(decision.confidence, 0.0);
    assert_eq!(decision.rule_id, None);
    assert_eq!(decision.reason, "no rule matched (OTHER) → SUPPORT, NORMAL");
}

#[test]
fn red_or_tier_a_escalates_cancellations_and_complaints() {
    let rules = sample_rules();
    let cancel = ticket("Kündigung zum Jahresende", "Wir kündigen den Vertrag.");
    let account = |color, tier| AccountContext { color, tier };
    let cases = [
        (Some(HealthColor::Red), Some(Tier::C), Priority::High),
        (Some(HealthColor::Green), Some(Tier::A), Priority::High),
        (None, Some(Tier::A), Priority::High),
        (None, Some(Tier::B), Priority::Normal),
        (Some(HealthColor::Yellow), Some(Tier::B), Priority::Normal),
        (None, None, Priority::Normal),
    ];
    for (color, tier, priority) in cases {
        let decision = route(&rules, &cancel, &account(color, tier));
        assert_eq!(decision.priority, priority, "{color:?} {tier:?}");
        assert_eq!(decision.destination, Destination::Csm);
    }
    let login = ticket("Passwort vergessen", "");
    let decision = route(
        &rules,
        &login,
        &account(Some(HealthColor::Red), Some(Tier::A)),
    );
    assert_eq!(decision.priority, Priority::Normal);
    assert_eq!(decision.destination, Destination::Support);
}

#[test]
fn reason_names_words_as_written_category_and_account() {
    let decision = route(
        &sample_rules(),
        &ticket("Kündigung", "Wir wollen den Vertrag kündigen."),
        &AccountContext {
            color: Some(HealthColor::Red),
            tier: Some(Tier::B),
        },
    );
    assert_eq!(
        decision.reason,
        "matched \"Kündigung\", \"Vertrag\", \"kündigen\" (CANCELLATION) → CSM; \
         account RED, tier B → HIGH"
    );
    assert_eq!(decision.language, Language::German);

    let decision = route_plain("Forgot password", "I cannot LOGIN.");
    assert_eq!(
        decision.reason,
        "matched \"password\", \"LOGIN\" (LOGIN) → SUPPORT, NORMAL"
    );
}

#[test]
fn caller_category_wins_with_full_confidence() {
    let given = Ticket {
        category: Some(Category::Complaint),
        ..ticket("Passwort vergessen", "")
    };
    let decision = route(
        &sample_rules(),
        &given,
        &AccountContext {
            color: None,
            tier: Some(Tier::A),
        },
    );
    assert_eq!(decision.category, Category::Complaint);
    assert_eq!(decision.confidence, 1.0);
    assert_eq!(decision.rule_id, None);
    assert_eq!(decision.priority, Priority::High);
    assert_eq!(
        decision.reason,
        "category given by the caller (COMPLAINT) → CSM; account health unknown, tier A → HIGH"
    );
}

#[test]
fn detects_language() {
    assert_eq!(
        detect_language("Wie kann ich das ändern?"),
        Language::German
    );
    assert_eq!(detect_language("Kündigung"), Language::German);
    assert_eq!(detect_language("Kuendigung Vertrag"), Language::German);
    assert_eq!(detect_language("How do I change this?"), Language::English);
    assert_eq!(
        detect_language("Cancelling subscription"),
        Language::English
    );
    assert_eq!(detect_language(""), Language::English);
}

#[test]
fn rejects_bad_rules_naming_each_field() {
    let mut rules = vec![
        rule("a", Category::Login, None, &["ok", "?!", "^$", "a * * b"]),
        rule("a", Category::Other, None, &[]),
        rule(" ", Category::HowTo, None, &["fine"]),
    ];
    rules[0].weight = f64::NAN;
    rules[1].weight = 0.0;
    let mut policies = policies();
    policies.retain(|policy| policy.category != Category::HowTo);
    policies.push(policies[0]);
    let errors = RoutingRules::new(rules, policies).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "rules[0].weight",
            "rules[0].terms[1]",
            "rules[0].terms[2]",
            "rules[0].terms[3]",
            "rules[1].id",
            "rules[1].category",
            "rules[1].weight",
            "rules[1].terms",
            "rules[2].id",
            "policies[8].category",
            "policies",
        ]
    );
    assert_eq!(
        errors[3].to_string(),
        "rules[0].terms[3]: \"a * * b\" needs words on both sides of each `*`"
    );
    assert_eq!(
        errors[4].to_string(),
        "rules[1].id: \"a\" is already the id of rules[0]"
    );
    assert!(errors[10].message.starts_with("HOW_TO has no policy"));
}

fn text_strategy() -> impl Strategy<Value = String> {
    // Words the sample rules know, umlauts, punctuation and noise.
    let word = prop_oneof![
        Just("Kündigung".to_owned()),
        Just("kuendigen".to_owned()),
        Just("Vertrag".to_owned()),
        Just("cancel".to_owned()),
        Just("Beschwerde".to_owned()),
        Just("Passwort".to_owned()),
        Just("login".to_owned()),
        Just("add".to_owned()),
        Just("users".to_owned()),
        Just("how".to_owned()),
        Just("do".to_owned()),
        Just("I".to_owned()),
        Just("wie kann ich".to_owned()),
        Just("Größe".to_owned()),
        Just("über".to_owned()),
        "[a-zA-ZäöüÄÖÜß]{1,8}",
        "[ .,!?'-]{1,3}",
        any::<String>(),
    ];
    prop::collection::vec(word, 0..12).prop_map(|words| words.join(" "))
}

fn account_strategy() -> impl Strategy<Value = AccountContext> {
    (
        prop::option::of(prop::sample::select(HealthColor::ALL.to_vec())),
        prop::option::of(prop::sample::select(Tier::ALL.to_vec())),
    )
        .prop_map(|(color, tier)| AccountContext { color, tier })
}

fn fold_umlauts(text: &str) -> String {
    text.replace('ä', "ae")
        .replace('ö', "oe")
        .replace('ü', "ue")
        .replace('Ä', "Ae")
        .replace('Ö', "Oe")
        .replace('Ü', "Ue")
        .replace('ß', "ss")
}

proptest! {
    #[test]
    fn confidence_is_between_zero_and_one(
        subject in text_strategy(),
        body in text_strategy(),
        account in account_strategy(),
    ) {
        let decision = route(&sample_rules(), &ticket(&subject, &body), &account);
        prop_assert!((0.0..=1.0).contains(&decision.confidence));
        prop_assert_eq!(decision.rule_id.is_none(), decision.category == Category::Other);
    }

    #[test]
    fn caller_category_always_wins(
        subject in text_strategy(),
        body in text_strategy(),
        category in prop::sample::select(Category::ALL.to_vec()),
        account in account_strategy(),
    ) {
        let given = Ticket { category: Some(category), ..ticket(&subject, &body) };
        let decision = route(&sample_rules(), &given, &account);
        prop_assert_eq!(decision.category, category);
        prop_assert_eq!(decision.confidence, 1.0);
        prop_assert_eq!(decision.rule_id, None);
    }

    #[test]
    fn umlauts_and_their_spelled_out_forms_route_alike(
        subject in text_strategy(),
        body in text_strategy(),
        language in prop::sample::select(Language::ALL.to_vec()),
    ) {
        prop_assert_eq!(normalize(&subject), normalize(&fold_umlauts(&subject)));
        // The language is given: umlauts are themselves evidence of German.
        let original = Ticket { language: Some(language), ..ticket(&subject, &body) };
        let (folded_subject, folded_body) = (fold_umlauts(&subject), fold_umlauts(&body));
        let folded = Ticket { language: Some(language), ..ticket(&folded_subject, &folded_body) };
        let rules = sample_rules();
        let a = route(&rules, &original, &AccountContext::default());
        let b = route(&rules, &folded, &AccountContext::default());
        prop_assert_eq!(a.category, b.category);
        prop_assert_eq!(a.confidence, b.confidence);
        prop_assert_eq!(a.rule_id, b.rule_id);
    }

    #[test]
    fn routing_is_deterministic(
        subject in text_strategy(),
        body in text_strategy(),
        account in account_strategy(),
    ) {
        let rules = sample_rules();
        let ticket = ticket(&subject, &body);
        prop_assert_eq!(route(&rules, &ticket, &account), route(&rules, &ticket, &account));
    }

    #[test]
    fn text_that_matches_nothing_changes_nothing(
        subject in text_strategy(),
        body in text_strategy(),
        noise in prop::collection::vec("[xqzjXQZJ]{1,6}", 1..6),
    ) {
        // No term of the sample rules starts or ends with these letters, so the noise
        // can neither match alone nor complete a phrase at the seam.
        let noisy_body = format!("{body} {}", noise.join(" "));
        let rules = sample_rules();
        let plain = route(&rules, &ticket(&subject, &body), &AccountContext::default());
        let noisy = route(&rules, &ticket(&subject, &noisy_body), &AccountContext::default());
        prop_assert_eq!(plain.category, noisy.category);
        prop_assert_eq!(plain.confidence, noisy.confidence);
    }
}
