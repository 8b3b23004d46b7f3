//! The fixed facts of the demo company: its markets, price book, people,
//! product features and the words its customers use.

use tenure_model::Currency;

pub struct Country {
    pub code: &'static str,
    pub currency: Currency,
    /// Offsets (minutes east of UTC) its customers work in; one is picked per
    /// customer. Daylight saving is ignored: "working hours, roughly".
    pub tz: &'static [i16],
    /// VAT/GST charged on invoices, in basis points.
    pub tax_bp: i64,
    pub legal: &'static str,
    pub tld: &'static str,
    pub weight: f64,
}

pub const COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        currency: Currency::USD,
        tz: &[-300, -300, -360, -480],
        tax_bp: 0,
        legal: "Inc",
        tld: "com",
        weight: 44.0,
    },
    Country { code: "CA", currency: Currency::USD, tz: &[-300, -480], tax_bp: 0, legal: "Inc", tld: "ca", weight: 5.0 },
    Country { code: "GB", currency: Currency::GBP, tz: &[0], tax_bp: 2000, legal: "Ltd", tld: "co.uk", weight: 12.0 },
    Country { code: "IE", currency: Currency::EUR, tz: &[0], tax_bp: 2300, legal: "Ltd", tld: "ie", weight: 2.0 },
    Country { code: "DE", currency: Currency::EUR, tz: &[60], tax_bp: 1900, legal: "GmbH", tld: "de", weight: 9.0 },
    Country { code: "FR", currency: Currency::EUR, tz: &[60], tax_bp: 2000, legal: "SAS", tld: "fr", weight: 7.0 },
    Country { code: "NL", currency: Currency::EUR, tz: &[60], tax_bp: 2100, legal: "BV", tld: "nl", weight: 4.0 },
    Country { code: "ES", currency: Currency::EUR, tz: &[60], tax_bp: 2100, legal: "SL", tld: "es", weight: 3.0 },
    Country {
        code: "AU",
        currency: Currency::USD,
        tz: &[600],
        tax_bp: 0,
        legal: "Pty Ltd",
        tld: "com.au",
        weight: 5.0,
    },
    Country { code: "IN", currency: Currency::USD, tz: &[330], tax_bp: 0, legal: "Pvt Ltd", tld: "in", weight: 3.0 },
    Country { code: "BR", currency: Currency::USD, tz: &[-180], tax_bp: 0, legal: "Ltda", tld: "com.br", weight: 2.0 },
    Country { code: "SG", currency: Currency::USD, tz: &[480], tax_bp: 0, legal: "Pte Ltd", tld: "sg", weight: 4.0 },
];

pub const COUNTRY_WEIGHTS: [f64; 12] = {
    let mut w = [0.0; 12];
    let mut i = 0;
    while i < 12 {
        w[i] = COUNTRIES[i].weight;
        i += 1;
    }
    w
};

pub const SEGMENTS: [&str; 3] = ["smb", "mid_market", "enterprise"];
pub const SMB: usize = 0;
pub const MID: usize = 1;
pub const ENT: usize = 2;

pub const TIERS: [&str; 3] = ["starter", "growth", "scale"];

/// Per-seat monthly list price in minor units, by tier then currency
/// (USD, EUR, GBP). Annual plans cost 10 months (two months free).
pub const SEAT_PRICE: [[i64; 3]; 3] = [[1_500, 1_400, 1_200], [3_500, 3_200, 2_800], [6_500, 6_000, 5_200]];

pub fn currency_index(c: Currency) -> usize {
    if c == Currency::EUR {
        1
    } else if c == Currency::GBP {
        2
    } else {
        0
    }
}

pub const FREE_PLAN: &str = "free";
pub const PLAN_IDS: [[&str; 2]; 3] =
    [["starter_monthly", "starter_annual"], ["growth_monthly", "growth_annual"], ["scale_monthly", "scale_annual"]];

/// The company's CSMs, and how much each one lifts the relationship of the
/// accounts they own: one of the things a segment cut by owner can find.
pub const CSMS: [(&str, f64); 6] = [
    ("Ava Thompson", 0.20),
    ("Ben Okafor", 0.05),
    ("Chloé Martin", 0.10),
    ("Diego Ramos", -0.25),
    ("Priya Nair", 0.05),
    ("Tom Fischer", 0.0),
];

pub const INDUSTRIES: [&str; 9] = [
    "software",
    "fintech",
    "healthcare",
    "retail",
    "education",
    "manufacturing",
    "media",
    "logistics",
    "professional_services",
];

pub const NAME_A: [&str; 28] = [
    "Acme", "Blue", "North", "Bright", "Nimbus", "Vertex", "Cobalt", "Harbor", "Summit", "Pioneer", "Lumen", "Quartz",
    "Atlas", "Orbit", "Maple", "Falcon", "Cedar", "Silver", "Granite", "Nova", "Polar", "Ember", "Aspen", "Beacon",
    "Copper", "Juniper", "Red Oak", "Tidal",
];
pub const NAME_B: [&str; 20] = [
    "Analytics",
    "Labs",
    "Logistics",
    "Health",
    "Systems",
    "Foods",
    "Works",
    "Dynamics",
    "Retail",
    "Media",
    "Robotics",
    "Finance",
    "Energy",
    "Learning",
    "Cloud",
    "Studio",
    "Partners",
    "Freight",
    "Bio",
    "Goods",
];
pub const FIRST_NAMES: [&str; 24] = [
    "Alex", "Maria", "James", "Sofia", "Liam", "Emma", "Noah", "Olivia", "Lucas", "Mia", "Ethan", "Anna", "Mateo",
    "Chloe", "Arjun", "Hannah", "Kenji", "Laura", "Omar", "Julia", "Samuel", "Elena", "David", "Sarah",
];
pub const LAST_NAMES: [&str; 24] = [
    "Smith", "Garcia", "Müller", "Dubois", "Jansen", "Rossi", "Patel", "Kim", "Brown", "Silva", "Novak", "Schmidt",
    "Taylor", "Lopez", "Nguyen", "Walsh", "Moreau", "Bakker", "Chen", "Wilson", "Fischer", "Haddad", "Evans", "Costa",
];

/// Tracked product features: (event name, relative frequency, lowest tier
/// that has it, adopted by default). Non-default features are adopted per
/// account, more often by engaged accounts (breadth of adoption).
pub const FEATURES: [(&str, f64, usize, bool); 14] = [
    ("Dashboard Viewed", 30.0, 0, true),
    ("Report Viewed", 18.0, 0, true),
    ("Filter Applied", 12.0, 0, true),
    ("Report Created", 8.0, 0, true),
    ("Search Performed", 8.0, 0, false),
    ("Comment Added", 5.0, 0, false),
    ("Export Run", 4.0, 0, false),
    ("Data Source Synced", 3.0, 1, false),
    ("Alert Created", 2.0, 0, false),
    ("Workflow Automated", 2.0, 2, false),
    ("Invite Sent", 1.5, 0, true),
    ("Goal Set", 1.5, 1, false),
    ("Integration Connected", 0.5, 0, false),
    ("API Key Created", 0.3, 2, false),
];

pub const PAGES: [&str; 7] = ["Home", "Dashboards", "Reports", "Settings", "Integrations", "Team", "Billing"];
pub const PAGE_WEIGHTS: [f64; 7] = [30.0, 25.0, 22.0, 7.0, 6.0, 6.0, 4.0];
pub const EXPORT_FORMATS: [&str; 3] = ["csv", "xlsx", "pdf"];
pub const INTEGRATIONS: [&str; 6] = ["salesforce", "hubspot", "slack", "snowflake", "zendesk", "google_sheets"];
pub const TEMPLATES: [&str; 4] = ["blank", "revenue", "funnel", "cohort"];

pub const THEMES: [&str; 6] = ["pricing", "onboarding", "performance", "support", "integrations", "reporting"];
pub const THEME_STEMS: [&str; 6] = ["pric", "onboard", "perform", "support", "integrat", "report"];
pub const PRICING: usize = 0;
pub const ONBOARDING: usize = 1;
pub const PERFORMANCE: usize = 2;
pub const SUPPORT: usize = 3;
pub const INTEGRATIONS_THEME: usize = 4;
pub const REPORTING: usize = 5;

/// Comments by theme: (negative, neutral, positive). Each contains its
/// theme's stem (`THEME_STEMS`) and no other theme's, so keyword tagging can
/// find it.
pub const COMMENTS: [[&[&str]; 3]; 6] = [
    [
        &[
            "The pricing is too expensive for what we actually use.",
            "Per-seat pricing punishes us for adding people; we are looking at cheaper tools.",
            "The pricing went up at renewal and nobody explained why.",
        ],
        &[
            "Pricing is fair, though the annual plan is a big commitment.",
            "Pricing is okay but the tiers are confusing.",
        ],
        &["Great value, the pricing is fair.", "Pricing is transparent and the annual discount was worth it."],
    ],
    [
        &[
            "Onboarding was confusing and our team never really got started.",
            "Setup took weeks; the onboarding docs are out of date.",
            "Nobody helped with onboarding after the first call.",
        ],
        &["Onboarding was fine once we found the right guide.", "Onboarding could be shorter."],
        &["Onboarding was smooth, we were live in a day.", "Loved the onboarding sessions with our CSM."],
    ],
    [
        &[
            "Performance is poor: dashboards are slow to load and time out.",
            "Performance has gotten worse; the app is slow every morning.",
            "Performance is too slow for our data volume.",
        ],
        &[
            "Performance is acceptable, sometimes slow on large exports.",
            "Performance is mostly fine, the odd slow query.",
        ],
        &["Fast and reliable, performance is excellent.", "Great performance even with millions of rows."],
    ],
    [
        &[
            "Support takes days to answer and tickets get reopened.",
            "Support closed my ticket without fixing anything.",
            "Waited a week for support to reply to a blocking issue.",
        ],
        &["Support is helpful but could be quicker.", "Support answered eventually."],
        &["Support is fantastic, quick and friendly.", "Best support team we have dealt with."],
    ],
    [
        &[
            "The Salesforce integration keeps breaking.",
            "Integrations are missing for the tools we use.",
            "Our integration sync fails silently.",
        ],
        &["Integrations work but setup is fiddly.", "Would like more integrations."],
        &["The integrations with Slack and HubSpot save us hours.", "Integrations just work."],
    ],
    [
        &[
            "Reporting is too limited, we still export to spreadsheets.",
            "Can't build the reports our board asks for.",
            "Reporting numbers don't match our billing system.",
        ],
        &["Reporting covers the basics.", "Reports are good, wish they were more customisable."],
        &[
            "The reporting is the best part, our board loves the dashboards.",
            "Reporting saves our analysts a day a week.",
        ],
    ],
];
