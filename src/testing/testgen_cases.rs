//! The test generator's fixture (issue 18): a Go module of the standard library only, whose
//! package `pricing` has pure functions, a function with an interface dependency, error paths,
//! a go-zero-shaped logic struct and a real bug (`Clamp` returns the lower bound above the
//! upper one), covered about 20 % by its tests; and candidate test files like an LLM writes
//! them — good ones, one that does not compile, one `go vet` refuses, one flaky, one that
//! asserts nothing, one that only repeats a covered case, and one that reveals the bug.

pub const PACKAGE: &str = "./pkg/pricing";
pub const SOURCE_FILE: &str = "pkg/pricing/pricing.go";

pub const PRICING: &str = r#"package pricing

import (
	"context"
	"errors"
	"strings"
)

// Item is a priced item.
type Item struct {
	ID    string
	Price int
}

// Store finds items.
type Store interface {
	Get(id string) (Item, error)
}

// Slug makes a URL slug.
func Slug(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", "-"))
}

// Clamp keeps v within [lo, hi].
func Clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return lo
	}
	return v
}

// Discount applies a discount code to a total in cents.
func Discount(total int, code string) (int, error) {
	if total < 0 {
		return 0, errors.New("negative total")
	}
	switch code {
	case "":
		return total, nil
	case "TEN":
		return total * 90 / 100, nil
	case "HALF":
		return total / 2, nil
	}
	return 0, errors.New("unknown code " + code)
}

// Price is the price of qty items from the store.
func Price(s Store, id string, qty int) (int, error) {
	if qty <= 0 {
		return 0, errors.New("quantity must be positive")
	}
	it, err := s.Get(id)
	if err != nil {
		return 0, err
	}
	return it.Price * qty, nil
}

// ServiceContext is the go-zero service context.
type ServiceContext struct {
	Store Store
}

// GetItemLogic is a go-zero logic.
type GetItemLogic struct {
	ctx    context.Context
	svcCtx *ServiceContext
}

// NewGetItemLogic makes the logic.
func NewGetItemLogic(ctx context.Context, svcCtx *ServiceContext) *GetItemLogic {
	return &GetItemLogic{ctx: ctx, svcCtx: svcCtx}
}

// GetItem returns an item.
func (l *GetItemLogic) GetItem(id string) (*Item, error) {
	if id == "" {
		return nil, errors.New("id is required")
	}
	it, err := l.svcCtx.Store.Get(id)
	if err != nil {
		return nil, err
	}
	return &it, nil
}
"#;

pub const EXISTING_TEST: &str = r#"package pricing

import "testing"

func TestSlug(t *testing.T) {
	if got := Slug("  Hello World "); got != "hello-world" {
		t.Fatalf("Slug = %q", got)
	}
}

func TestDiscountNoCode(t *testing.T) {
	if got, err := Discount(100, ""); err != nil || got != 100 {
		t.Fatalf("Discount = %d, %v", got, err)
	}
}

func TestDiscountNegative(t *testing.T) {
	if _, err := Discount(-1, ""); err == nil {
		t.Fatal("a negative total must fail")
	}
}
"#;

/// The module's files.
pub fn module() -> Vec<(&'static str, &'static str)> {
    vec![
        ("go.mod", "module example.com/shop\n\ngo 1.19\n"),
        (SOURCE_FILE, PRICING),
        ("pkg/pricing/pricing_test.go", EXISTING_TEST),
    ]
}

/// A candidate: its name, the function it tests, the file and the filter that must judge it
/// (`kept`, `build`, `vet`, `flaky`, `bug`, `coverage`, `mutation`).
pub struct Case {
    pub target: &'static str,
    pub file: &'static str,
    pub code: &'static str,
    pub expect: &'static str,
}

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            target: "Clamp",
            file: "pkg/pricing/clamp_broken_gen_test.go",
            code: "package pricing\n\nimport \"testing\"\n\nfunc TestClampBroken(t *testing.T) {\n\tif Clamp(1, 2) != 2 {\n\t\tt.Fatal(\"clamp\")\n\t}\n}\n",
            expect: "build",
        },
        Case {
            target: "Discount",
            file: "pkg/pricing/discount_vet_gen_test.go",
            code: "package pricing\n\nimport \"testing\"\n\nfunc TestDiscountVet(t *testing.T) {\n\tgot, _ := Discount(100, \"TEN\")\n\tif got != 90 {\n\t\tt.Errorf(\"got %d\", \"ninety\")\n\t}\n}\n",
            expect: "vet",
        },
        Case {
            target: "Discount",
            file: "pkg/pricing/discount_flaky_gen_test.go",
            code: "package pricing\n\nimport \"testing\"\n\nvar discountRuns int\n\nfunc TestDiscountFlaky(t *testing.T) {\n\tdiscountRuns++\n\tgot, err := Discount(100, \"HALF\")\n\tif err != nil || got != 50 || discountRuns%2 == 1 {\n\t\tt.Fatalf(\"run %d: %d %v\", discountRuns, got, err)\n\t}\n}\n",
            expect: "flaky",
        },
        Case {
            target: "Clamp",
            file: "pkg/pricing/clamp_gen_test.go",
            code: "package pricing\n\nimport \"testing\"\n\nfunc TestClampAbove(t *testing.T) {\n\tif got := Clamp(15, 0, 10); got != 10 {\n\t\tt.Fatalf(\"Clamp(15, 0, 10) = %d, want 10\", got)\n\t}\n}\n",
            expect: "bug",
        },
        Case {
            target: "Slug",
            file: "pkg/pricing/slug_gen_test.go",
            code: "package pricing\n\nimport \"testing\"\n\nfunc TestSlugAgain(t *testing.T) {\n\tif got := Slug(\"A B\"); got != \"a-b\" {\n\t\tt.Fatalf(\"Slug = %q\", got)\n\t}\n}\n",
            expect: "coverage",
        },
        Case {
            target: "Price",
            file: "pkg/pricing/price_nothing_gen_test.go",
            code: "package pricing\n\nimport (\n\t\"errors\"\n\t\"testing\"\n)\n\nfunc TestPriceRuns(t *testing.T) {\n\ts := fakeStore{\"a\": {ID: \"a\", Price: 3}}\n\t_, _ = Price(s, \"a\", 2)\n\t_, _ = Price(s, \"b\", 2)\n\t_, _ = Price(s, \"a\", 0)\n}\n\ntype fakeStore map[string]Item\n\nfunc (f fakeStore) Get(id string) (Item, error) {\n\tit, ok := f[id]\n\tif !ok {\n\t\treturn Item{}, errors.New(\"not found\")\n\t}\n\treturn it, nil\n}\n",
            expect: "mutation",
        },
        Case {
            target: "Discount",
            file: "pkg/pricing/discount_gen_test.go",
            code: DISCOUNT_GOOD,
            expect: "kept",
        },
        Case {
            target: "Price",
            file: "pkg/pricing/price_gen_test.go",
            code: PRICE_GOOD,
            expect: "kept",
        },
        Case {
            target: "GetItemLogic.GetItem",
            file: "pkg/pricing/get_item_logic_gen_test.go",
            code: GET_ITEM_GOOD,
            expect: "kept",
        },
        Case {
            target: "Clamp",
            file: "pkg/pricing/clamp_within_gen_test.go",
            code: "package pricing\n\nimport \"testing\"\n\nfunc TestClampWithin(t *testing.T) {\n\tfor _, c := range []struct{ v, want int }{{-5, 0}, {5, 5}} {\n\t\tif got := Clamp(c.v, 0, 10); got != c.want {\n\t\t\tt.Errorf(\"Clamp(%d) = %d, want %d\", c.v, got, c.want)\n\t\t}\n\t}\n}\n",
            expect: "kept",
        },
    ]
}

const DISCOUNT_GOOD: &str = r#"package pricing

import "testing"

func TestDiscount(t *testing.T) {
	tests := []struct {
		name    string
		total   int
		code    string
		want    int
		wantErr bool
	}{
		{"ten percent", 1000, "TEN", 900, false},
		{"half", 1000, "HALF", 500, false},
		{"unknown code", 1000, "FREE", 0, true},
		{"negative total", -1, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Discount(tt.total, tt.code)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}
"#;

const PRICE_GOOD: &str = r#"package pricing

import (
	"errors"
	"testing"
)

type priceStore map[string]Item

func (f priceStore) Get(id string) (Item, error) {
	it, ok := f[id]
	if !ok {
		return Item{}, errors.New("not found")
	}
	return it, nil
}

func TestPrice(t *testing.T) {
	s := priceStore{"a": {ID: "a", Price: 3}}
	tests := []struct {
		name    string
		id      string
		qty     int
		want    int
		wantErr bool
	}{
		{"two items", "a", 2, 6, false},
		{"unknown item", "b", 1, 0, true},
		{"zero quantity", "a", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Price(s, tt.id, tt.qty)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("Price = %d, %v", got, err)
			}
		})
	}
}
"#;

const GET_ITEM_GOOD: &str = r#"package pricing

import (
	"context"
	"errors"
	"testing"
)

type logicStore map[string]Item

func (f logicStore) Get(id string) (Item, error) {
	it, ok := f[id]
	if !ok {
		return Item{}, errors.New("not found")
	}
	return it, nil
}

func TestGetItemLogic(t *testing.T) {
	svcCtx := &ServiceContext{Store: logicStore{"a": {ID: "a", Price: 3}}}
	l := NewGetItemLogic(context.Background(), svcCtx)
	if it, err := l.GetItem("a"); err != nil || it.Price != 3 {
		t.Fatalf("GetItem(a) = %v, %v", it, err)
	}
	if _, err := l.GetItem(""); err == nil {
		t.Fatal("an empty id must fail")
	}
	if _, err := l.GetItem("b"); err == nil {
		t.Fatal("an unknown id must fail")
	}
}
"#;
