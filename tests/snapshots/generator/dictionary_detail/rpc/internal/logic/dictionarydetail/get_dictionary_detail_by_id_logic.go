package dictionarydetail

import (
	"context"

	"github.com/suyuan32/simple-admin-common/utils/pointy"
	"github.com/suyuan32/simple-admin-core/rpc/internal/svc"
	"github.com/suyuan32/simple-admin-core/rpc/internal/utils/dberrorhandler"
	"github.com/suyuan32/simple-admin-core/rpc/types/core"

	"github.com/zeromicro/go-zero/core/logx"
)

type GetDictionaryDetailByIdLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewGetDictionaryDetailByIdLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetDictionaryDetailByIdLogic {
	return &GetDictionaryDetailByIdLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

func (l *GetDictionaryDetailByIdLogic) GetDictionaryDetailById(in *core.IDReq) (*core.DictionaryDetailInfo, error) {
	v, err := l.svcCtx.DB.DictionaryDetail.Get(l.ctx, in.Id)
	if err != nil {
		return nil, dberrorhandler.DefaultEntError(l.Logger, err, in)
	}

	info := &core.DictionaryDetailInfo{}
	info.Id = pointy.GetPointer(v.ID)
	info.CreatedAt = pointy.GetPointer(v.CreatedAt.UnixMilli())
	info.UpdatedAt = pointy.GetPointer(v.UpdatedAt.UnixMilli())
	info.Status = pointy.GetPointer(uint32(v.Status))
	info.Sort = pointy.GetPointer(v.Sort)
	info.Title = pointy.GetPointer(v.Title)
	info.Key = pointy.GetPointer(v.Key)
	info.Value = pointy.GetPointer(v.Value)
	info.DictionaryId = pointy.GetPointer(v.DictionaryID)

	return info, nil
}
