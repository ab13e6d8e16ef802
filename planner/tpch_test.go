package planner

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// The 22 TPC-H queries in the text the benchmark harness (bench/) runs:
// the specification's validation parameters, DATE literals, EXTRACT,
// SUBSTRING … FROM … FOR, and a WITH clause for Q15's view.
var tpchQueryTexts = [22]string{
	// Q1: pricing summary report.
	`select l_returnflag, l_linestatus, sum(l_quantity) as sum_qty, sum(l_extendedprice) as sum_base_price,
	sum(l_extendedprice * (1 - l_discount)) as sum_disc_price,
	sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) as sum_charge,
	avg(l_quantity) as avg_qty, avg(l_extendedprice) as avg_price, avg(l_discount) as avg_disc, count(*) as count_order
from lineitem
where l_shipdate <= date '1998-09-02'
group by l_returnflag, l_linestatus
order by l_returnflag, l_linestatus`,
	// Q2: minimum cost supplier.
	`select s_acctbal, s_name, n_name, p_partkey, p_mfgr, s_address, s_phone, s_comment
from part, supplier, partsupp, nation, region
where p_partkey = ps_partkey and s_suppkey = ps_suppkey and p_size = 15 and p_type like '%BRASS'
	and s_nationkey = n_nationkey and n_regionkey = r_regionkey and r_name = 'EUROPE'
	and ps_supplycost = (
		select min(ps_supplycost) from partsupp, supplier, nation, region
		where p_partkey = ps_partkey and s_suppkey = ps_suppkey and s_nationkey = n_nationkey
			and n_regionkey = r_regionkey and r_name = 'EUROPE')
order by s_acctbal desc, n_name, s_name, p_partkey
limit 100`,
	// Q3: shipping priority.
	`select l_orderkey, sum(l_extendedprice * (1 - l_discount)) as revenue, o_orderdate, o_shippriority
from customer, orders, lineitem
where c_mktsegment = 'BUILDING' and c_custkey = o_custkey and l_orderkey = o_orderkey
	and o_orderdate < date '1995-03-15' and l_shipdate > date '1995-03-15'
group by l_orderkey, o_orderdate, o_shippriority
order by revenue desc, o_orderdate
limit 10`,
	// Q4: order priority checking.
	`select o_orderpriority, count(*) as order_count
from orders
where o_orderdate >= date '1993-07-01' and o_orderdate < date '1993-10-01'
	and exists (select * from lineitem where l_orderkey = o_orderkey and l_commitdate < l_receiptdate)
group by o_orderpriority
order by o_orderpriority`,
	// Q5: local supplier volume.
	`select n_name, sum(l_extendedprice * (1 - l_discount)) as revenue
from customer, orders, lineitem, supplier, nation, region
where c_custkey = o_custkey and l_orderkey = o_orderkey and l_suppkey = s_suppkey
	and c_nationkey = s_nationkey and s_nationkey = n_nationkey and n_regionkey = r_regionkey
	and r_name = 'ASIA' and o_orderdate >= date '1994-01-01' and o_orderdate < date '1995-01-01'
group by n_name
order by revenue desc`,
	// Q6: forecasting revenue change.
	`select sum(l_extendedprice * l_discount) as revenue
from lineitem
where l_shipdate >= date '1994-01-01' and l_shipdate < date '1995-01-01'
	and l_discount between 0.06 - 0.01 and 0.06 + 0.01 and l_quantity < 24`,
	// Q7: volume shipping.
	`select supp_nation, cust_nation, l_year, sum(volume) as revenue
from (
	select n1.n_name as supp_nation, n2.n_name as cust_nation, extract(year from l_shipdate) as l_year,
		l_extendedprice * (1 - l_discount) as volume
	from supplier, lineitem, orders, customer, nation n1, nation n2
	where s_suppkey = l_suppkey and o_orderkey = l_orderkey and c_custkey = o_custkey
		and s_nationkey = n1.n_nationkey and c_nationkey = n2.n_nationkey
		and ((n1.n_name = 'FRANCE' and n2.n_name = 'GERMANY') or (n1.n_name = 'GERMANY' and n2.n_name = 'FRANCE'))
		and l_shipdate between date '1995-01-01' and date '1996-12-31'
) as shipping
group by supp_nation, cust_nation, l_year
order by supp_nation, cust_nation, l_year`,
	// Q8: national market share.
	`select o_year, sum(case when nation = 'BRAZIL' then volume else 0 end) / sum(volume) as mkt_share
from (
	select extract(year from o_orderdate) as o_year, l_extendedprice * (1 - l_discount) as volume, n2.n_name as nation
	from part, supplier, lineitem, orders, customer, nation n1, nation n2, region
	where p_partkey = l_partkey and s_suppkey = l_suppkey and l_orderkey = o_orderkey and o_custkey = c_custkey
		and c_nationkey = n1.n_nationkey and n1.n_regionkey = r_regionkey and r_name = 'AMERICA'
		and s_nationkey = n2.n_nationkey and o_orderdate between date '1995-01-01' and date '1996-12-31'
		and p_type = 'ECONOMY ANODIZED STEEL'
) as all_nations
group by o_year
order by o_year`,
	// Q9: product type profit measure.
	`select nation, o_year, sum(amount) as sum_profit
from (
	select n_name as nation, extract(year from o_orderdate) as o_year,
		l_extendedprice * (1 - l_discount) - ps_supplycost * l_quantity as amount
	from part, supplier, lineitem, partsupp, orders, nation
	where s_suppkey = l_suppkey and ps_suppkey = l_suppkey and ps_partkey = l_partkey and p_partkey = l_partkey
		and o_orderkey = l_orderkey and s_nationkey = n_nationkey and p_name like '%green%'
) as profit
group by nation, o_year
order by nation, o_year desc`,
	// Q10: returned item reporting.
	`select c_custkey, c_name, sum(l_extendedprice * (1 - l_discount)) as revenue, c_acctbal, n_name, c_address,
	c_phone, c_comment
from customer, orders, lineitem, nation
where c_custkey = o_custkey and l_orderkey = o_orderkey and o_orderdate >= date '1993-10-01'
	and o_orderdate < date '1994-01-01' and l_returnflag = 'R' and c_nationkey = n_nationkey
group by c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment
order by revenue desc
limit 20`,
	// Q11: important stock identification.
	`select ps_partkey, sum(ps_supplycost * ps_availqty) as value
from partsupp, supplier, nation
where ps_suppkey = s_suppkey and s_nationkey = n_nationkey and n_name = 'GERMANY'
group by ps_partkey
having sum(ps_supplycost * ps_availqty) > (
	select sum(ps_supplycost * ps_availqty) * 0.0001
	from partsupp, supplier, nation
	where ps_suppkey = s_suppkey and s_nationkey = n_nationkey and n_name = 'GERMANY')
order by value desc`,
	// Q12: shipping modes and order priority.
	`select l_shipmode,
	sum(case when o_orderpriority = '1-URGENT' or o_orderpriority = '2-HIGH' then 1 else 0 end) as high_line_count,
	sum(case when o_orderpriority <> '1-URGENT' and o_orderpriority <> '2-HIGH' then 1 else 0 end) as low_line_count
from orders, lineitem
where o_orderkey = l_orderkey and l_shipmode in ('MAIL', 'SHIP') and l_commitdate < l_receiptdate
	and l_shipdate < l_commitdate and l_receiptdate >= date '1994-01-01'
	and l_receiptdate < date '1995-01-01'
group by l_shipmode
order by l_shipmode`,
	// Q13: customer distribution.
	`select c_count, count(*) as custdist
from (
	select c_custkey, count(o_orderkey) as c_count
	from customer left outer join orders on c_custkey = o_custkey and o_comment not like '%special%requests%'
	group by c_custkey
) as c_orders
group by c_count
order by custdist desc, c_count desc`,
	// Q14: promotion effect.
	`select 100.00 * sum(case when p_type like 'PROMO%' then l_extendedprice * (1 - l_discount) else 0 end)
	/ sum(l_extendedprice * (1 - l_discount)) as promo_revenue
from lineitem, part
where l_partkey = p_partkey and l_shipdate >= date '1995-09-01' and l_shipdate < date '1995-10-01'`,
	// Q15: top supplier (the view as a WITH clause).
	`with revenue0 as (
	select l_suppkey as supplier_no, sum(l_extendedprice * (1 - l_discount)) as total_revenue
	from lineitem
	where l_shipdate >= date '1996-01-01' and l_shipdate < date '1996-04-01'
	group by l_suppkey)
select s_suppkey, s_name, s_address, s_phone, total_revenue
from supplier, revenue0
where s_suppkey = supplier_no and total_revenue = (select max(total_revenue) from revenue0)
order by s_suppkey`,
	// Q16: parts/supplier relationship.
	`select p_brand, p_type, p_size, count(distinct ps_suppkey) as supplier_cnt
from partsupp, part
where p_partkey = ps_partkey and p_brand <> 'Brand#45' and p_type not like 'MEDIUM POLISHED%'
	and p_size in (49, 14, 23, 45, 19, 3, 36, 9)
	and ps_suppkey not in (select s_suppkey from supplier where s_comment like '%Customer%Complaints%')
group by p_brand, p_type, p_size
order by supplier_cnt desc, p_brand, p_type, p_size`,
	// Q17: small-quantity-order revenue.
	`select sum(l_extendedprice) / 7.0 as avg_yearly
from lineitem, part
where p_partkey = l_partkey and p_brand = 'Brand#23' and p_container = 'MED BOX'
	and l_quantity < (select 0.2 * avg(l_quantity) from lineitem where l_partkey = p_partkey)`,
	// Q18: large volume customer.
	`select c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice, sum(l_quantity)
from customer, orders, lineitem
where o_orderkey in (select l_orderkey from lineitem group by l_orderkey having sum(l_quantity) > 300)
	and c_custkey = o_custkey and o_orderkey = l_orderkey
group by c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice
order by o_totalprice desc, o_orderdate
limit 100`,
	// Q19: discounted revenue.
	`select sum(l_extendedprice * (1 - l_discount)) as revenue
from lineitem, part
where (p_partkey = l_partkey and p_brand = 'Brand#12' and p_container in ('SM CASE', 'SM BOX', 'SM PACK', 'SM PKG')
		and l_quantity >= 1 and l_quantity <= 1 + 10 and p_size between 1 and 5
		and l_shipmode in ('AIR', 'AIR REG') and l_shipinstruct = 'DELIVER IN PERSON')
	or (p_partkey = l_partkey and p_brand = 'Brand#23' and p_container in ('MED BAG', 'MED BOX', 'MED PKG', 'MED PACK')
		and l_quantity >= 10 and l_quantity <= 10 + 10 and p_size between 1 and 10
		and l_shipmode in ('AIR', 'AIR REG') and l_shipinstruct = 'DELIVER IN PERSON')
	or (p_partkey = l_partkey and p_brand = 'Brand#34' and p_container in ('LG CASE', 'LG BOX', 'LG PACK', 'LG PKG')
		and l_quantity >= 20 and l_quantity <= 20 + 10 and p_size between 1 and 15
		and l_shipmode in ('AIR', 'AIR REG') and l_shipinstruct = 'DELIVER IN PERSON')`,
	// Q20: potential part promotion.
	`select s_name, s_address
from supplier, nation
where s_suppkey in (
		select ps_suppkey from partsupp
		where ps_partkey in (select p_partkey from part where p_name like 'forest%')
			and ps_availqty > (
				select 0.5 * sum(l_quantity) from lineitem
				where l_partkey = ps_partkey and l_suppkey = ps_suppkey
					and l_shipdate >= date '1994-01-01' and l_shipdate < date '1995-01-01'))
	and s_nationkey = n_nationkey and n_name = 'CANADA'
order by s_name`,
	// Q21: suppliers who kept orders waiting.
	`select s_name, count(*) as numwait
from supplier, lineitem l1, orders, nation
where s_suppkey = l1.l_suppkey and o_orderkey = l1.l_orderkey and o_orderstatus = 'F'
	and l1.l_receiptdate > l1.l_commitdate
	and exists (select * from lineitem l2 where l2.l_orderkey = l1.l_orderkey and l2.l_suppkey <> l1.l_suppkey)
	and not exists (
		select * from lineitem l3
		where l3.l_orderkey = l1.l_orderkey and l3.l_suppkey <> l1.l_suppkey and l3.l_receiptdate > l3.l_commitdate)
	and s_nationkey = n_nationkey and n_name = 'SAUDI ARABIA'
group by s_name
order by numwait desc, s_name
limit 100`,
	// Q22: global sales opportunity.
	`select cntrycode, count(*) as numcust, sum(c_acctbal) as totacctbal
from (
	select substring(c_phone from 1 for 2) as cntrycode, c_acctbal
	from customer
	where substring(c_phone from 1 for 2) in ('13', '31', '23', '29', '30', '18', '17')
		and c_acctbal > (
			select avg(c_acctbal) from customer
			where c_acctbal > 0.00 and substring(c_phone from 1 for 2) in ('13', '31', '23', '29', '30', '18', '17'))
		and not exists (select * from orders where o_custkey = c_custkey)
) as custsale
group by cntrycode
order by cntrycode`,
}

var tpchDDL = []string{
	`CREATE TABLE nation (n_nationkey INT PRIMARY KEY, n_name VARCHAR(25), n_regionkey INT, n_comment VARCHAR(152))`,
	`CREATE TABLE region (r_regionkey INT PRIMARY KEY, r_name VARCHAR(25), r_comment VARCHAR(152))`,
	`CREATE TABLE part (p_partkey BIGINT PRIMARY KEY, p_name VARCHAR(55), p_mfgr VARCHAR(25), p_brand VARCHAR(10),
		p_type VARCHAR(25), p_size INT, p_container VARCHAR(10), p_retailprice DECIMAL(15,2), p_comment VARCHAR(23))`,
	`CREATE TABLE supplier (s_suppkey BIGINT PRIMARY KEY, s_name VARCHAR(25), s_address VARCHAR(40), s_nationkey INT,
		s_phone VARCHAR(15), s_acctbal DECIMAL(15,2), s_comment VARCHAR(101))`,
	`CREATE TABLE partsupp (ps_partkey BIGINT, ps_suppkey BIGINT, ps_availqty INT, ps_supplycost DECIMAL(15,2),
		ps_comment VARCHAR(199), PRIMARY KEY (ps_partkey, ps_suppkey))`,
	`CREATE TABLE customer (c_custkey BIGINT PRIMARY KEY, c_name VARCHAR(25), c_address VARCHAR(40), c_nationkey INT,
		c_phone VARCHAR(15), c_acctbal DECIMAL(15,2), c_mktsegment VARCHAR(10), c_comment VARCHAR(117))`,
	`CREATE TABLE orders (o_orderkey BIGINT PRIMARY KEY, o_custkey BIGINT, o_orderstatus VARCHAR(1),
		o_totalprice DECIMAL(15,2), o_orderdate DATE, o_orderpriority VARCHAR(15), o_clerk VARCHAR(15),
		o_shippriority INT, o_comment VARCHAR(79))`,
	`CREATE TABLE lineitem (l_orderkey BIGINT, l_partkey BIGINT, l_suppkey BIGINT, l_linenumber INT,
		l_quantity DECIMAL(15,2), l_extendedprice DECIMAL(15,2), l_discount DECIMAL(15,2), l_tax DECIMAL(15,2),
		l_returnflag VARCHAR(1), l_linestatus VARCHAR(1), l_shipdate DATE, l_commitdate DATE, l_receiptdate DATE,
		l_shipinstruct VARCHAR(25), l_shipmode VARCHAR(10), l_comment VARCHAR(44), PRIMARY KEY (l_orderkey, l_linenumber))`,
}

// tpchInserts generates a tiny TPC-H-shaped data set whose values hit the
// predicates of the 22 queries (regions, nations, brands, types, dates,
// phone prefixes) so that every query has rows to work on.
func tpchInserts(seed int64) []string {
	r := rand.New(rand.NewSource(seed))
	pick := func(xs ...string) string { return xs[r.Intn(len(xs))] }
	date := func(lo, hi int) string { // years lo..hi
		return fmt.Sprintf("%04d-%02d-%02d", lo+r.Intn(hi-lo+1), 1+r.Intn(12), 1+r.Intn(28))
	}
	money := func(lo, hi int) string { return fmt.Sprintf("%d.%02d", lo+r.Intn(hi-lo), r.Intn(100)) }
	var out []string
	ins := func(table string, rows []string) {
		out = append(out, fmt.Sprintf("INSERT INTO %s VALUES %s", table, strings.Join(rows, ", ")))
	}
	regions := []string{"AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"}
	var rows []string
	for i, n := range regions {
		rows = append(rows, fmt.Sprintf("(%d, '%s', 'c')", i, n))
	}
	ins("region", rows)
	nations := []struct {
		name   string
		region int
	}{{"ALGERIA", 0}, {"ARGENTINA", 1}, {"BRAZIL", 1}, {"CANADA", 1}, {"EGYPT", 4}, {"ETHIOPIA", 0}, {"FRANCE", 3},
		{"GERMANY", 3}, {"INDIA", 2}, {"INDONESIA", 2}, {"IRAN", 4}, {"IRAQ", 4}, {"JAPAN", 2}, {"JORDAN", 4},
		{"KENYA", 0}, {"MOROCCO", 0}, {"MOZAMBIQUE", 0}, {"PERU", 1}, {"CHINA", 2}, {"ROMANIA", 3},
		{"SAUDI ARABIA", 4}, {"VIETNAM", 2}, {"RUSSIA", 3}, {"UNITED KINGDOM", 3}, {"UNITED STATES", 1}}
	rows = nil
	for i, n := range nations {
		rows = append(rows, fmt.Sprintf("(%d, '%s', %d, 'c')", i, n.name, n.region))
	}
	ins("nation", rows)
	const nsupp, npart, ncust, norders = 12, 24, 30, 90
	// Suppliers cycle through the nations the queries name.
	suppNations := []int{7, 6, 20, 3, 8, 2, 12, 18, 7, 6, 3, 20}
	rows = nil
	for i := 1; i <= nsupp; i++ {
		comment := pick("quick fox", "Customer very Complaints here", "plain")
		rows = append(rows, fmt.Sprintf("(%d, 'Supplier#%09d', 'addr%d', %d, '%d-555-0100', %s, '%s')",
			i, i, i, suppNations[i-1], 10+suppNations[i-1], money(-100, 9000), comment))
	}
	ins("supplier", rows)
	rows = nil
	for i := 1; i <= npart; i++ {
		name := pick("forest green lace", "green almond", "blush forest", "navy ivory", "forest chiffon")
		typ := pick("ECONOMY ANODIZED STEEL", "PROMO BURNISHED COPPER", "STANDARD POLISHED BRASS", "MEDIUM BRUSHED TIN", "LARGE PLATED BRASS")
		brand := pick("Brand#12", "Brand#23", "Brand#34", "Brand#45", "Brand#13")
		cont := pick("SM CASE", "SM BOX", "MED BOX", "MED PKG", "LG CASE", "LG PACK", "WRAP CASE")
		size := []int{15, 49, 14, 23, 45, 19, 3, 36, 9, 1, 5, 10}[r.Intn(12)]
		rows = append(rows, fmt.Sprintf("(%d, '%s', 'Manufacturer#%d', '%s', '%s', %d, '%s', %s, 'c')",
			i, name, 1+r.Intn(5), brand, typ, size, cont, money(900, 2000)))
	}
	ins("part", rows)
	rows = nil
	for p := 1; p <= npart; p++ {
		for k := 0; k < 3; k++ {
			s := (p+k*4)%nsupp + 1
			rows = append(rows, fmt.Sprintf("(%d, %d, %d, %s, 'c')", p, s, 1+r.Intn(9999), money(1, 1000)))
		}
	}
	ins("partsupp", rows)
	rows = nil
	for i := 1; i <= ncust; i++ {
		prefix := []int{13, 31, 23, 29, 30, 18, 17, 11, 25}[r.Intn(9)]
		rows = append(rows, fmt.Sprintf("(%d, 'Customer#%09d', 'addr', %d, '%d-555-0101', %s, '%s', 'c')",
			i, i, r.Intn(25), prefix, money(-500, 9000), pick("BUILDING", "AUTOMOBILE", "MACHINERY", "HOUSEHOLD")))
	}
	ins("customer", rows)
	rows = nil
	var lines []string
	for o := 1; o <= norders; o++ {
		cust := 1 + r.Intn(ncust)
		if cust%3 == 0 {
			cust++ // every third customer has no orders (Q13, Q22)
		}
		od := date(1992, 1998)
		rows = append(rows, fmt.Sprintf("(%d, %d, '%s', %s, DATE '%s', '%s', 'Clerk#1', 0, '%s')",
			o, cust, pick("O", "F", "P"), money(1000, 400000), od,
			pick("1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW"), pick("fine", "special packages requests", "ok")))
		n := 1 + r.Intn(5)
		for l := 1; l <= n; l++ {
			p := 1 + r.Intn(npart)
			s := (p+r.Intn(3)*4)%nsupp + 1
			ship := date(1992, 1998)
			lines = append(lines, fmt.Sprintf("(%d, %d, %d, %d, %d, %s, 0.0%d, 0.0%d, '%s', '%s', DATE '%s', DATE '%s', DATE '%s', '%s', '%s', 'c')",
				o, p, s, l, 1+r.Intn(50), money(1000, 90000), r.Intn(10), r.Intn(9), pick("R", "A", "N"), pick("O", "F"),
				ship, date(1992, 1998), date(1992, 1998), pick("DELIVER IN PERSON", "NONE", "COLLECT COD"),
				pick("MAIL", "SHIP", "AIR", "AIR REG", "TRUCK", "RAIL", "FOB")))
		}
	}
	ins("orders", rows)
	ins("lineitem", lines)
	return out
}

// TestTPCH runs the 22 TPC-H queries on a tiny generated data set. Their
// exact answers are checked against DuckDB by the benchmark harness; here
// every query must execute, return its declared schema, and not leak.
func TestTPCH(t *testing.T) {
	s := newStore(t)
	for _, q := range tpchDDL {
		s.mustRun(q)
	}
	for _, q := range tpchInserts(1) {
		s.mustRun(q)
	}
	for i, q := range tpchQueryTexts {
		t.Run(fmt.Sprintf("Q%d", i+1), func(t *testing.T) {
			rows, _, err := s.run(q)
			if err != nil {
				t.Fatalf("Q%d: %v", i+1, err)
			}
			t.Logf("Q%d: %d rows", i+1, len(rows))
		})
	}
}
