package warehouse

import (
	"context"

	"github.com/suyuan32/simple-admin-common/utils/pointy"
	"github.com/suyuan32/simple-admin-core/rpc/internal/svc"
	"github.com/suyuan32/simple-admin-core/rpc/internal/utils/dberrorhandler"
	"github.com/suyuan32/simple-admin-core/rpc/types/core"

	"github.com/zeromicro/go-zero/core/logx"
)

type GetWarehouseByIdLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewGetWarehouseByIdLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetWarehouseByIdLogic {
	return &GetWarehouseByIdLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

func (l *GetWarehouseByIdLogic) GetWarehouseById(in *core.IDReq) (*core.WarehouseInfo, error) {
	v, err := l.svcCtx.DB.Warehouse.Get(l.ctx, in.Id)
	if err != nil {
		return nil, dberrorhandler.DefaultEntError(l.Logger, err, in)
	}

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

	return info, nil
}
