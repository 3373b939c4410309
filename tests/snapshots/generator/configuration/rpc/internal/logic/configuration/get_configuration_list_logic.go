package configuration

import (
	"context"

	"github.com/suyuan32/simple-admin-common/utils/pointy"
	"github.com/suyuan32/simple-admin-core/rpc/ent/configuration"
	"github.com/suyuan32/simple-admin-core/rpc/ent/predicate"
	"github.com/suyuan32/simple-admin-core/rpc/internal/svc"
	"github.com/suyuan32/simple-admin-core/rpc/internal/utils/dberrorhandler"
	"github.com/suyuan32/simple-admin-core/rpc/types/core"

	"github.com/zeromicro/go-zero/core/logx"
)

type GetConfigurationListLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewGetConfigurationListLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetConfigurationListLogic {
	return &GetConfigurationListLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

func (l *GetConfigurationListLogic) GetConfigurationList(in *core.ConfigurationListReq) (*core.ConfigurationListResp, error) {
	var predicates []predicate.Configuration
	if in.Name != nil {
		predicates = append(predicates, configuration.NameContains(*in.Name))
	}
	if in.Key != nil {
		predicates = append(predicates, configuration.KeyContains(*in.Key))
	}
	if in.Value != nil {
		predicates = append(predicates, configuration.ValueContains(*in.Value))
	}
	if in.Category != nil {
		predicates = append(predicates, configuration.CategoryContains(*in.Category))
	}
	if in.State != nil {
		predicates = append(predicates, configuration.StateEQ(*in.State))
	}
	result, err := l.svcCtx.DB.Configuration.Query().Where(predicates...).Page(l.ctx, in.Page, in.PageSize)

	if err != nil {
		return nil, dberrorhandler.DefaultEntError(l.Logger, err, in)
	}

	resp := &core.ConfigurationListResp{}
	resp.Total = result.PageDetails.Total

	for _, v := range result.List {
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
		resp.Data = append(resp.Data, info)
	}

	return resp, nil
}
