package dictionary

import (
	"context"

	"github.com/suyuan32/simple-admin-common/utils/pointy"
	"github.com/suyuan32/simple-admin-core/rpc/internal/svc"
	"github.com/suyuan32/simple-admin-core/rpc/internal/utils/dberrorhandler"
	"github.com/suyuan32/simple-admin-core/rpc/types/core"

	"github.com/zeromicro/go-zero/core/logx"
)

type GetDictionaryByIdLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewGetDictionaryByIdLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetDictionaryByIdLogic {
	return &GetDictionaryByIdLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

func (l *GetDictionaryByIdLogic) GetDictionaryById(in *core.IDReq) (*core.DictionaryInfo, error) {
	v, err := l.svcCtx.DB.Dictionary.Get(l.ctx, in.Id)
	if err != nil {
		return nil, dberrorhandler.DefaultEntError(l.Logger, err, in)
	}

	info := &core.DictionaryInfo{}
	info.Id = pointy.GetPointer(v.ID)
	info.CreatedAt = pointy.GetPointer(v.CreatedAt.UnixMilli())
	info.UpdatedAt = pointy.GetPointer(v.UpdatedAt.UnixMilli())
	info.Status = pointy.GetPointer(uint32(v.Status))
	info.TenantId = pointy.GetPointer(v.TenantID)
	info.CreatedBy = pointy.GetPointer(v.CreatedBy)
	info.Title = pointy.GetPointer(v.Title)
	info.Name = pointy.GetPointer(v.Name)
	info.IsPublic = pointy.GetPointer(v.IsPublic)
	info.OwnerUuid = pointy.GetPointer(v.OwnerUUID.String())
	info.Desc = pointy.GetPointer(v.Desc)

	return info, nil
}
