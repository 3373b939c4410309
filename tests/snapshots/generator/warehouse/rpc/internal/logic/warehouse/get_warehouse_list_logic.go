package warehouse

import (
	"context"

	"github.com/suyuan32/simple-admin-common/utils/pointy"
	"github.com/suyuan32/simple-admin-core/rpc/ent/predicate"
	"github.com/suyuan32/simple-admin-core/rpc/ent/warehouse"
	"github.com/suyuan32/simple-admin-core/rpc/internal/svc"
	"github.com/suyuan32/simple-admin-core/rpc/internal/utils/dberrorhandler"
	"github.com/suyuan32/simple-admin-core/rpc/types/core"

	"github.com/zeromicro/go-zero/core/logx"
)

type GetWarehouseListLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewGetWarehouseListLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetWarehouseListLogic {
	return &GetWarehouseListLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

func (l *GetWarehouseListLogic) GetWarehouseList(in *core.WarehouseListReq) (*core.WarehouseListResp, error) {
	var predicates []predicate.Warehouse
	if in.Name != nil {
		predicates = append(predicates, warehouse.NameContains(*in.Name))
	}
	if in.Region != nil {
		predicates = append(predicates, warehouse.RegionContains(*in.Region))
	}
	if in.Status != nil {
		predicates = append(predicates, warehouse.StatusEQ(uint8(*in.Status)))
	}
	result, err := l.svcCtx.DB.Warehouse.Query().Where(predicates...).Page(l.ctx, in.Page, in.PageSize)

	if err != nil {
		return nil, dberrorhandler.DefaultEntError(l.Logger, err, in)
	}

	resp := &core.WarehouseListResp{}
	resp.Total = result.PageDetails.Total

	for _, v := range result.List {
		info := &core.WarehouseInfo{}
		info.Id = pointy.GetPointer(v.ID)
		info.CreatedAt = pointy.GetPointer(v.CreatedAt.UnixMilli())
		info.UpdatedAt = pointy.GetPointer(v.UpdatedAt.UnixMilli())
		info.Status = pointy.GetPointer(uint32(v.Status))
		info.Name = pointy.GetPointer(v.Name)
		info.Region = pointy.GetPointer(v.Region)
		info.Level = pointy.GetPointer(uint32(v.Level))
		info.Active = pointy.GetPointer(v.Active)
		info.Capacity = pointy.GetPointer(v.Capacity)
		resp.Data = append(resp.Data, info)
	}

	return resp, nil
}
