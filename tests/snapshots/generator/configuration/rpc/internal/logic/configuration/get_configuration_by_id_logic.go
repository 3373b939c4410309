package configuration

import (
	"context"

	"github.com/suyuan32/simple-admin-common/utils/pointy"
	"github.com/suyuan32/simple-admin-core/rpc/internal/svc"
	"github.com/suyuan32/simple-admin-core/rpc/internal/utils/dberrorhandler"
	"github.com/suyuan32/simple-admin-core/rpc/types/core"

	"github.com/zeromicro/go-zero/core/logx"
)

type GetConfigurationByIdLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewGetConfigurationByIdLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetConfigurationByIdLogic {
	return &GetConfigurationByIdLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

func (l *GetConfigurationByIdLogic) GetConfigurationById(in *core.IDReq) (*core.ConfigurationInfo, error) {
	v, err := l.svcCtx.DB.Configuration.Get(l.ctx, in.Id)
	if err != nil {
		return nil, dberrorhandler.DefaultEntError(l.Logger, err, in)
	}

	info := &core.ConfigurationInfo{}
	info.Id = pointy.GetPointer(v.ID)
	info.CreatedAt = pointy.GetPointer(v.CreatedAt.UnixMilli())
	info.UpdatedAt = pointy.GetPointer(v.UpdatedAt.UnixMilli())
	info.State = pointy.GetPointer(v.State)
	info.Sort = pointy.GetPointer(v.Sort)
	info.Name = pointy.GetPointer(v.Name)
	info.Key = pointy.GetPointer(v.Key)
	info.Value = pointy.GetPointer(v.Value)
	info.Category = pointy.GetPointer(v.Category)
	info.Remark = pointy.GetPointer(v.Remark)

	return info, nil
}
