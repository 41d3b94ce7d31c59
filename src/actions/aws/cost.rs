//! What the resources a step creates cost per hour on AWS, roughly, in the region they go to: the
//! walkthrough's "what this costs" line, an estimate and not a bill.
//!
//! An action's definition says what its resources are billed for ([`Bill`]: so many instances
//! of a type, a load balancer's hour). [`Prices`] prices those items in a region: the list prices
//! the AWS Price List API gives for each region a run acts in, looked up once before the
//! walkthrough ([`look_up`]), over a small built-in table of us-east-1 On-Demand prices for when
//! it does not answer (an emulator, no `pricing:GetProducts` permission, no network).

use std::collections::HashMap;

/// What a resource is billed for by the hour.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    /// A Linux On-Demand instance of a type.
    Instance(String),
    /// A public IPv4 address: $0.005 an hour in every commercial region.
    PublicIpv4,
    /// An Application Load Balancer's hour.
    LoadBalancerHour,
    /// One load balancer capacity unit's hour (an idle lab uses about one).
    CapacityUnit,
    /// A hosted zone or health check: $0.50 a month, the same everywhere (Route 53 is global;
    /// a zone deleted within 12 hours is not charged).
    HalfDollarMonthly,
}

/// What a step's resources are billed for: each item and how many, and what that is in words.
#[derive(Clone, Debug, PartialEq)]
pub struct Bill {
    pub items: Vec<(Item, u32)>,
    pub what: String,
}

impl Bill {
    /// Some item is priced per region.
    pub fn regional(&self) -> bool {
        self.items.iter().any(|(item, _)| item.regional())
    }
}

/// The built-in price of an item, US$ an hour: us-east-1 On-Demand list prices.
fn table(item: &Item) -> Option<f64> {
    Some(match item {
        Item::Instance(kind) => match kind.as_str() {
            "t3.nano" => 0.0052,
            "t3.micro" => 0.0104,
            "t3.small" => 0.0208,
            "t3.medium" => 0.0416,
            "t2.micro" => 0.0116,
            "t2.small" => 0.023,
            "t4g.micro" => 0.0084,
            "t4g.small" => 0.0168,
            "m5.large" => 0.096,
            _ => return None,
        },
        Item::PublicIpv4 => 0.005,
        Item::LoadBalancerHour => 0.0225,
        Item::CapacityUnit => 0.008,
        Item::HalfDollarMonthly => 0.50 / 730.0,
    })
}

impl Item {
    /// Priced per region (else the same everywhere).
    pub fn regional(&self) -> bool {
        matches!(
            self,
            Item::Instance(_) | Item::LoadBalancerHour | Item::CapacityUnit
        )
    }
}

/// Prices per region: those the Price List API gave, over the built-in table.
#[derive(Clone, Debug, Default)]
pub struct Prices {
    listed: HashMap<(String, Item), f64>,
}

/// A bill priced in a region.
#[derive(Clone, Debug, PartialEq)]
pub struct Priced {
    /// US$ an hour, for the items whose price is known.
    pub hourly: f64,
    /// Every regional item's price is the region's own (not the built-in us-east-1 table's).
    pub regional: bool,
    /// An item has no known price (an instance type the table lacks, not found in the list).
    pub incomplete: bool,
}

impl Prices {
    /// `bill` priced in `region` (`None`: where unknown, the built-in table).
    pub fn price(&self, bill: &Bill, region: Option<&str>) -> Priced {
        let mut priced = Priced {
            hourly: 0.0,
            regional: true,
            incomplete: false,
        };
        for (item, count) in &bill.items {
            let listed = region.and_then(|r| self.listed.get(&(r.to_owned(), item.clone())));
            let price = if let Some(p) = listed {
                Some(*p)
            } else {
                if item.regional() && region != Some("us-east-1") {
                    priced.regional = false;
                }
                table(item)
            };
            match price {
                Some(p) => priced.hourly += p * f64::from(*count),
                None => priced.incomplete = true,
            }
        }
        priced
    }

    /// Record the list price of an item in a region.
    pub fn set(&mut self, region: &str, item: Item, hourly: f64) {
        self.listed.insert((region.to_owned(), item), hourly);
    }
}

/// What `count` instances of a type are billed for, each with a public IPv4 address.
pub fn instances(kind: &str, count: u32) -> Bill {
    Bill {
        items: vec![
            (Item::Instance(kind.to_owned()), count),
            (Item::PublicIpv4, count),
        ],
        what: format!("{count} × {kind} with a public IPv4 address"),
    }
}

/// An Application Load Balancer: its hour, one capacity unit, a public IPv4 address in each of
/// two zones.
pub fn load_balancer() -> Bill {
    Bill {
        items: vec![
            (Item::LoadBalancerHour, 1),
            (Item::CapacityUnit, 1),
            (Item::PublicIpv4, 2),
        ],
        what: "an Application Load Balancer".to_owned(),
    }
}

/// A hosted zone or a health check, named by `what`.
pub fn half_dollar_monthly(what: &str) -> Bill {
    Bill {
        items: vec![(Item::HalfDollarMonthly, 1)],
        what: what.to_owned(),
    }
}

/// The list prices of the regional `items` in each of `regions`, from the AWS Price List API
/// (`pricing:GetProducts`, served in us-east-1), asked together and within a few seconds; what
/// it does not answer keeps the built-in price.
pub async fn look_up(config: &aws_config::SdkConfig, regions: &[String], items: &[Item]) -> Prices {
    let client = aws_sdk_pricing::Client::from_conf(
        aws_sdk_pricing::config::Builder::from(&super::client::quick(config, 5))
            .region(aws_config::Region::new("us-east-1"))
            .build(),
    );
    look_up_with(&client, regions, items).await
}

/// [`look_up`] with a given client (unit tests script its answers).
pub async fn look_up_with(
    pricing: &aws_sdk_pricing::Client,
    regions: &[String],
    items: &[Item],
) -> Prices {
    let mut asks = Vec::new();
    for region in regions {
        for item in items.iter().filter(|i| i.regional()) {
            asks.push(async move { (region, item, list_price(pricing, region, item).await) });
        }
    }
    let mut prices = Prices::default();
    for (region, item, price) in futures::future::join_all(asks).await {
        if let Some(price) = price {
            prices.set(region, item.clone(), price);
        }
    }
    prices
}

/// One item's On-Demand list price in a region, or `None` when the list does not say.
async fn list_price(pricing: &aws_sdk_pricing::Client, region: &str, item: &Item) -> Option<f64> {
    use aws_sdk_pricing::types::{Filter, FilterType};
    let term = |field: &str, value: &str| {
        Filter::builder()
            .r#type(FilterType::TermMatch)
            .field(field)
            .value(value)
            .build()
            .ok()
    };
    let (service, filters, usage) = match item {
        Item::Instance(kind) => (
            "AmazonEC2",
            vec![
                term("instanceType", kind)?,
                term("operatingSystem", "Linux")?,
                term("tenancy", "Shared")?,
                term("preInstalledSw", "NA")?,
                term("capacitystatus", "Used")?,
                term("licenseModel", "No License required")?,
            ],
            "BoxUsage",
        ),
        Item::LoadBalancerHour => (
            "AWSELB",
            vec![term("productFamily", "Load Balancer-Application")?],
            "LoadBalancerUsage",
        ),
        Item::CapacityUnit => (
            "AWSELB",
            vec![term("productFamily", "Load Balancer-Application")?],
            "LCUUsage",
        ),
        Item::PublicIpv4 | Item::HalfDollarMonthly => return None,
    };
    let answer = pricing
        .get_products()
        .service_code(service)
        .set_filters(Some(
            filters
                .into_iter()
                .chain(term("regionCode", region))
                .collect(),
        ))
        .max_results(20)
        .send()
        .await
        .ok()?;
    answer
        .price_list()
        .iter()
        .find_map(|product| on_demand_hourly(product, usage))
}

/// The hourly On-Demand US$ price in one Price List product (a JSON document), when its usage
/// type is of `usage` (`BoxUsage`, `LoadBalancerUsage`, `LCUUsage`).
fn on_demand_hourly(product: &str, usage: &str) -> Option<f64> {
    let doc: serde_json::Value = serde_json::from_str(product).ok()?;
    let usage_type = doc["product"]["attributes"]["usagetype"].as_str()?;
    // `BoxUsage:t3.micro`, `APS3-BoxUsage:t3.micro`, `APS3-LoadBalancerUsage`.
    let kind = usage_type.rsplit_once('-').map_or(usage_type, |(_, k)| k);
    if kind.split(':').next() != Some(usage) {
        return None;
    }
    doc["terms"]["OnDemand"]
        .as_object()?
        .values()
        .filter_map(|term| term["priceDimensions"].as_object())
        .flat_map(serde_json::Map::values)
        .filter(|d| {
            d["unit"].as_str().is_some_and(|u| u.starts_with("Hr")) || d["unit"] == "LCU-Hrs"
        })
        .find_map(|d| d["pricePerUnit"]["USD"].as_str()?.parse::<f64>().ok())
        .filter(|p| *p > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn instances_count_their_type_and_address() {
        let bill = crate::actions::hourly(
            "aws.ec2.run_instances",
            &json!({"instance_type": "t3.micro", "count": 2}),
        )
        .unwrap();
        let priced = Prices::default().price(&bill, Some("us-east-1"));
        assert!((priced.hourly - 2.0 * 0.0154).abs() < 1e-9, "{priced:?}");
        assert!(priced.regional && !priced.incomplete);
        assert_eq!(bill.what, "2 × t3.micro with a public IPv4 address");
        assert!(crate::actions::hourly("aws.ec2.create_vpc", &json!({})).is_none());
    }

    /// A region's listed price wins over the us-east-1 table; a region nobody looked up is priced
    /// from the table and says so; a type nobody knows leaves the estimate incomplete.
    #[test]
    fn a_bill_is_priced_in_its_region() {
        let mut prices = Prices::default();
        prices.set("ap-south-1", Item::Instance("t3.micro".into()), 0.0112);
        let bill = instances("t3.micro", 1);
        let mumbai = prices.price(&bill, Some("ap-south-1"));
        assert!(
            (mumbai.hourly - (0.0112 + 0.005)).abs() < 1e-9,
            "{mumbai:?}"
        );
        assert!(mumbai.regional);
        let singapore = prices.price(&bill, Some("ap-southeast-1"));
        assert!((singapore.hourly - (0.0104 + 0.005)).abs() < 1e-9);
        assert!(!singapore.regional, "the table's us-east-1 price");
        let odd = prices.price(&instances("x9.huge", 1), Some("us-east-1"));
        assert!(odd.incomplete);
        let zone = prices.price(&half_dollar_monthly("a hosted zone"), Some("ap-south-1"));
        assert!(zone.regional, "Route 53's price is the same everywhere");
    }

    /// The Price List's product documents, as `GetProducts` returns them (strings of JSON).
    fn product(usage: &str, unit: &str, usd: &str) -> String {
        json!({
            "product": {"attributes": {"usagetype": usage, "regionCode": "ap-south-1"}},
            "terms": {"OnDemand": {"X.JRTCKXETXF": {"priceDimensions": {
                "X.JRTCKXETXF.6YS6EN2CT7": {"unit": unit, "pricePerUnit": {"USD": usd}}
            }}}}
        })
        .to_string()
    }

    #[test]
    fn a_price_list_product_gives_its_hourly_on_demand_price() {
        let box_usage = product("APS3-BoxUsage:t3.micro", "Hrs", "0.0112000000");
        assert_eq!(on_demand_hourly(&box_usage, "BoxUsage"), Some(0.0112));
        assert_eq!(
            on_demand_hourly(&product("BoxUsage:t3.micro", "Hrs", "0.0104"), "BoxUsage"),
            Some(0.0104)
        );
        let lb = product("APS3-LoadBalancerUsage", "Hrs", "0.0239");
        assert_eq!(on_demand_hourly(&lb, "LoadBalancerUsage"), Some(0.0239));
        assert_eq!(on_demand_hourly(&lb, "LCUUsage"), None);
        let lcu = product("APS3-LCUUsage", "LCU-Hrs", "0.008");
        assert_eq!(on_demand_hourly(&lcu, "LCUUsage"), Some(0.008));
        // A reservation's capacity, a zero price, a document that is not one: no price.
        assert_eq!(
            on_demand_hourly(
                &product("APS3-UnusedBox:t3.micro", "Hrs", "0.0112"),
                "BoxUsage"
            ),
            None
        );
        assert_eq!(
            on_demand_hourly(
                &product("APS3-BoxUsage:t3.micro", "Hrs", "0.0000000000"),
                "BoxUsage"
            ),
            None
        );
        assert_eq!(on_demand_hourly("not json", "BoxUsage"), None);
    }

    /// Prices asked of a scripted Price List: what it answers is each region's price; what it
    /// refuses (no `pricing:GetProducts` permission) keeps the table's, and nothing fails.
    #[tokio::test]
    async fn prices_are_looked_up_per_region_and_a_refusal_keeps_the_table() {
        use aws_sdk_pricing::operation::get_products::{GetProductsError, GetProductsOutput};
        use aws_smithy_mocks::{MockResponseInterceptor, RuleMode, create_mock_http_client, mock};
        let mumbai = mock!(aws_sdk_pricing::Client::get_products)
            .match_requests(|r| {
                r.filters()
                    .iter()
                    .any(|f| f.field() == "regionCode" && f.value() == "ap-south-1")
            })
            .then_output(|| {
                GetProductsOutput::builder()
                    .price_list(product("APS3-BoxUsage:t3.micro", "Hrs", "0.0112"))
                    .price_list(product("APS3-LoadBalancerUsage", "Hrs", "0.0239"))
                    .build()
            });
        let refused = mock!(aws_sdk_pricing::Client::get_products).then_error(|| {
            GetProductsError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .build(),
            )
        });
        let config = aws_sdk_pricing::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKIDTEST", "secret", None, None, "scripted",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .interceptor(
                MockResponseInterceptor::new()
                    .rule_mode(RuleMode::MatchAny)
                    .with_rule(&mumbai)
                    .with_rule(&refused),
            )
            .build();
        let client = aws_sdk_pricing::Client::from_conf(config);
        let prices = look_up_with(
            &client,
            &["ap-south-1".to_owned(), "us-west-2".to_owned()],
            &[
                Item::Instance("t3.micro".into()),
                Item::LoadBalancerHour,
                Item::PublicIpv4,
            ],
        )
        .await;
        let web = instances("t3.micro", 1);
        let here = prices.price(&web, Some("ap-south-1"));
        assert!((here.hourly - 0.0162).abs() < 1e-9, "{here:?}");
        assert!(here.regional);
        let there = prices.price(&web, Some("us-west-2"));
        assert!((there.hourly - 0.0154).abs() < 1e-9, "{there:?}");
        assert!(!there.regional);
    }
}
