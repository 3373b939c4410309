package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"github.com/suyuan32/simple-admin-common/orm/ent/mixins"
)

// Warehouse holds the schema definition for the Warehouse entity.
type Warehouse struct {
	ent.Schema
}

// Fields of the Warehouse.
func (Warehouse) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Unique().
			Comment("Name | name"),
		field.String("region").Default("cn").
			Comment("Region | region"),
		field.Uint8("level").Default(1).
			Comment("Level | level"),
		field.Bool("active").Default(true).
			Comment("Active | active"),
		field.Float("capacity").Optional().
			Comment("Capacity | capacity"),
	}
}

// Mixin of the Warehouse.
func (Warehouse) Mixin() []ent.Mixin {
	return []ent.Mixin{
		mixins.IDMixin{},
		mixins.StatusMixin{},
	}
}

// Edges of the Warehouse.
func (Warehouse) Edges() []ent.Edge {
	return nil
}

// Annotations of the Warehouse.
func (Warehouse) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.WithComments(true),
		schema.Comment("warehouse Table | Warehouse表"),
		entsql.Annotation{Table: "wms_warehouses"},
	}
}
